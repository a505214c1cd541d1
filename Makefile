# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Neither installs PyTorch: only retraining needs it (`make train-deps`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install train-deps demo test test-fast bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[local,test]'
	$(BIN)/smallcut models fetch
	touch $@

install: $(BIN)/.installed

## retraining the network (training/): adds the `train` extra (PyTorch) to the same environment
train-deps: install
	$(BIN)/pip install -q -e '.[local,test,train]'

## the main job end to end on an embedded default: local Redis + S3 server + worker + sample images
demo: install
	$(BIN)/smallcut demo --out demo-out

## the test suite (unit + integration against real local servers)
test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not integration"

clean:
	rm -rf $(VENV) demo-out .pytest_cache

"""`make demo` and `make test` install only what they need: PyTorch (the `train` extra) is opt-in."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _planned(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run in a fresh clone (a venv that does not exist yet)."""
    proc = subprocess.run(["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _extras(commands: str) -> set[str]:
    found: set[str] = set()
    for m in re.finditer(r"pip install [^\n]*-e '?\.\[([^\]]*)\]", commands):
        found.update(x.strip() for x in m.group(1).split(","))
    return found


def _torch_extras() -> set[str]:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    return {name for name, reqs in extras.items() if any(r.split("=")[0].split(">")[0].strip() == "torch" for r in reqs)}


@pytest.mark.parametrize("target", ["install", "demo", "test"])
def test_demo_and_test_do_not_install_pytorch(target, tmp_path):
    extras = _extras(_planned(target, tmp_path))
    assert {"local", "test"} <= extras
    assert not extras & _torch_extras(), f"`make {target}` would install PyTorch via {extras & _torch_extras()}"


def test_training_has_its_own_target(tmp_path):
    assert "train" in _torch_extras()
    assert "train" in _extras(_planned("train-deps", tmp_path))


def test_ci_runs_the_two_commands():
    text = (ROOT / ".ci" / "run").read_text()
    assert "make install" in text and "make test" in text

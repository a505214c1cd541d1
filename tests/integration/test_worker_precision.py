"""A worker says at start which precision each process runs (int8 on a CPU by default), so a
fallback to fp32 is never silent."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_each_worker_process_logs_its_precision(stack, worker):
    log = Path(stack.dir) / "testworker.log"
    deadline = time.monotonic() + 120
    while True:
        lines = re.findall(r"model (\S+) loaded in (\S+), precision (\w+)", log.read_text(errors="replace"))
        if len(lines) >= 2 or time.monotonic() > deadline:  # the suite's worker has two children
            break
        time.sleep(0.5)
    assert len(lines) >= 2, log.read_text(errors="replace")[-2000:]
    for model_id, _where, precision in lines:
        assert precision == "int8" and ":int8-" in model_id  # the CPU default (SMALLCUT_PRECISION=auto)

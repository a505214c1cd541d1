"""The allocator setting: a frame's large arrays are reused from the heap, not page-faulted again."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers.engine.alloc import keep_freed_memory


def _frame(size: int = 12 << 20, n: int = 8) -> float:
    maps = [np.ones(size // 8) for _ in range(n)]  # eight 2000x1500 float maps alive at once, then freed
    return sum(float(m[-1]) for m in maps)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_a_frames_large_arrays_are_reused_without_page_faults():
    assert keep_freed_memory() is True
    _frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        _frame()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 3
    pages = 8 * (12 << 20) / 4096
    # glibc's defaults trim the freed heap and fault ≈ 17 % of these pages in again on every frame
    assert faults < 0.01 * pages, f"{faults:.0f} page faults per frame of {pages:.0f} pages"



_ARENA_SCENARIO = """
import json, resource, sys
import numpy as np
from smallcut.settings import Settings
from workers.engine.engine import Engine

engine = Engine.from_settings(Settings(providers=["CPUExecutionProvider"], intra_op_threads=2, cpu_arena=sys.argv[1]))
rng = np.random.default_rng(0)
coarse, tile = rng.integers(0, 256, (320, 320, 3), np.uint8), rng.integers(0, 256, (256, 256, 3), np.uint8)
first = engine.net.predict([coarse])[0]
engine.net.predict([tile] * 4)
faults = []
for _ in range(2):
    engine.net.predict([tile] * 4)  # a detection frame's tile batch between two frames' coarse passes
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    again = engine.net.predict([coarse])[0]
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({"faults": faults, "same": bool(np.array_equal(first, again)),
                  "split": engine.net.other_session is not None and engine.net.other_session is not engine.net.session}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_the_coarse_pass_keeps_its_buffers_across_a_detection_frames_tile_batch():
    """cpu_arena=coarse: tiles and zooms run on a session of their own, so the steady 320² pass
    finds its memory where it left it; with one shrunk arena it faults ≈ 170 MB in again.

    Each side in a fresh process, as a worker starts: this one's heap, grown by earlier tests,
    would hide the faults.
    """
    root = Path(__file__).resolve().parents[2]
    runs = {}
    for arena in ("coarse", "all"):
        done = subprocess.run([sys.executable, "-c", _ARENA_SCENARIO, arena], cwd=root, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        runs[arena] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["coarse"]["split"] and not runs["all"]["split"]
    assert runs["coarse"]["same"] and runs["all"]["same"]
    pages = (100 << 20) / 4096  # 100 MB
    assert min(runs["coarse"]["faults"]) < 0.01 * pages, runs
    assert min(runs["all"]["faults"]) > 0.2 * pages, runs  # what the split session saves

"""The allocator setting: a frame's large arrays are reused from the heap, not page-faulted again."""

from __future__ import annotations

import resource
import sys

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

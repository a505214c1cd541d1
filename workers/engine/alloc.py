"""glibc's allocator, tuned for a process that makes the same large arrays frame after frame.

By default glibc serves blocks over 128 KiB-32 MiB (its threshold adapts) with fresh mmaps and gives
them back on free, so every full-resolution float map (12 MB at 2000x1500) costs thousands of page
faults again on every frame. Serving them from the heap and keeping freed memory for reuse saves
those faults for a little more resident memory per process; `python -m bench.ab --env
SMALLCUT_KEEP_FREED_MEMORY=false` measures both (figures in docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


def keep_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 512 << 20) -> bool:
    """Blocks under `mmap_threshold` come from the heap; up to `trim_threshold` of freed heap is kept.

    Process-wide and idempotent; True when applied (glibc on Linux), False elsewhere (musl, macOS).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    if not ok:
        log.warning("mallopt refused the allocator settings; large arrays stay on mmap")
    return ok


def release_freed_memory() -> bool:
    """Give the heap's freed memory back to the system now (glibc's malloc_trim).

    For a frame far larger than usual: what its reduced plan freed would otherwise stay resident
    (keep_freed_memory keeps up to 512 MiB) underneath the full-resolution buffers that follow.
    True when glibc released something."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim(0) == 1

"""One oversized image at a time per host: a frame whose cutout would need more memory than a worker
process is planned for waits for the host's large-image slot, so that several such files arriving
together cannot add up to an out-of-memory kill of the node.

The estimate comes from the header before any pixel is decoded (smallcut.imagesize); the slot is an
exclusive flock on a file in the temporary folder, shared by every worker process of the host (of
the container, where each has its own /tmp).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

LOCK_NAME = "smallcut-large-image.lock"


def lock_path() -> str:
    return os.path.join(tempfile.gettempdir(), LOCK_NAME)


@contextmanager
def large_image_slot(estimate: int, budget: int, path: str | None = None) -> Iterator[bool]:
    """Hold the host's large-image slot while the body runs when `estimate` > `budget` bytes
    (yields True then), else run at once (yields False). budget 0: no gate."""
    if budget <= 0 or estimate <= budget:
        yield False
        return
    fd = os.open(path or lock_path(), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # a soft time limit's exception interrupts the wait
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Resizing of photos and maps. Pure numpy/OpenCV.

Two ways down, for two kinds of reader. What the network sees (the coarse view, detection tiles,
zoom crops) is the exact area average (`resize`): its small-object scores move when those pixels
are averaged differently (synth-eval's small objects lost about 0.02 IoU when they were shrunk by
halvings). The post-processing's working copies, which only feed decisions about what the network
already found, take the much cheaper `shrink`.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (w, h): area averaging when shrinking (no aliasing), linear when growing."""
    h, w = img.shape[:2]
    if (w, h) == tuple(size):
        return img
    interp = cv2.INTER_AREA if size[0] < w and size[1] < h else cv2.INTER_LINEAR
    return cv2.resize(img, size, interpolation=interp)


def shrink(img: np.ndarray, size: tuple[int, int], area_last: bool = False) -> np.ndarray:
    """Shrink to (w, h) by exact halvings (2×2 area averages) while the image is at least twice the
    target, then one bilinear step of a factor under two (an area step with `area_last`).

    OpenCV's INTER_AREA averages 2×2 blocks in a fast path (about 0.6 ms for a 3-channel 1500×1500
    crop on one core) but runs a general path at any other factor that is 10-20× slower (about 13 ms
    from 1500 to 768 px); a bilinear step under a factor of two costs about what a halving costs and
    aliases little (every source pixel still reaches the output). This is a mipmap's shrink: the
    result is the area average up to a light blur difference at edges. An odd last row or column
    is dropped before a halving (a shift of at most half a source pixel at the target size).

    `area_last`: where the copy's fine texture is measured (local contrast), the bilinear step's
    aliasing shows as texture that is not there; an area step costs more and aliases nothing.
    """
    tw, th = size
    h, w = img.shape[:2]
    while w >= 2 * tw and h >= 2 * th and w >= 2 and h >= 2:
        img = cv2.resize(img[: h - h % 2, : w - w % 2], (w // 2, h // 2), interpolation=cv2.INTER_AREA)
        h, w = img.shape[:2]
    if (w, h) == (tw, th):
        return img
    return cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA if area_last else cv2.INTER_LINEAR)

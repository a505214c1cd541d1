"""Noise fields for the judge family's textures: smooth random fields made by enlarging small random
grids (bicubic), summed over octaves. Cheap at catalog resolution because the work is in the resize."""

from __future__ import annotations

import cv2
import numpy as np


def field(rng: np.random.Generator, w: int, h: int, cell: float) -> np.ndarray:
    """A smooth field of roughly unit variance whose features are about `cell` px across."""
    if cell > 16:  # broad features: draw at a reduced scale and enlarge (a smooth field loses nothing)
        k = cell / 8
        small = field(rng, int(np.ceil(w / k)) + 1, int(np.ceil(h / k)) + 1, 8)
        return cv2.resize(small, (int(small.shape[1] * k), int(small.shape[0] * k)), interpolation=cv2.INTER_LINEAR)[:h, :w]
    gw, gh = int(np.ceil(w / cell)) + 4, int(np.ceil(h / cell)) + 4
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    ox, oy = rng.uniform(1, 2, 2)
    # output pixel (x, y) reads the grid at (ox + x / cell, oy + y / cell), bicubic: exactly w x h
    M = np.float32([[1 / cell, 0, ox], [0, 1 / cell, oy]])
    return cv2.warpAffine(grid, M, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT)


def fbm(rng: np.random.Generator, w: int, h: int, cell: float, octaves: int = 4, gain: float = 0.5) -> np.ndarray:
    """Octaves of `field`, each half the feature size and `gain` times the amplitude; about unit variance."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        out += amp * field(rng, w, h, max(1.5, cell))
        total += amp * amp
        amp *= gain
        cell /= 2.0
    return out / np.sqrt(total)


def grain(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Per-pixel white noise, unit variance."""
    return rng.standard_normal((h, w)).astype(np.float32)

"""Backgrounds for composites: real photos (full frame) and procedural studio gradients, fabric
and wood. Textures matter because the saliency map turns them into false small-object candidates.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

TEXTURES = ("gradient", "fabric", "wood")


def _smooth(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    g = rng.standard_normal((cells, max(2, int(cells * w / h)))).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _colour(rng: np.random.Generator, lo: int = 30, hi: int = 230) -> np.ndarray:
    return rng.integers(lo, hi, 3).astype(np.float32)


def gradient(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Studio sweep: a smooth two-colour gradient (linear or radial), vignette and sensor noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx /= w
    yy /= h
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * math.pi)
        t = (xx - 0.5) * math.cos(a) + (yy - 0.5) * math.sin(a) + 0.5
    else:
        cx, cy = rng.uniform(0.3, 0.7, 2)
        t = np.hypot(xx - cx, yy - cy) * 1.4
    t = np.clip(t + 0.05 * _smooth(rng, h, w, 4), 0, 1)[..., None]
    c0, c1 = _colour(rng), _colour(rng)
    img = c0 * (1 - t) + c1 * t
    img *= (1 - 0.25 * np.hypot(xx - 0.5, yy - 0.5) ** 2)[..., None]
    img += rng.normal(0, rng.uniform(1.5, 5.0), (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def fabric(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Woven cloth: warp and weft threads, irregular yarn, soft folds."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(4.0, 14.0)
    a = rng.uniform(-0.3, 0.3)
    u = xx * math.cos(a) + yy * math.sin(a)
    v = -xx * math.sin(a) + yy * math.cos(a)
    warp = np.sin(2 * math.pi * u / period)
    weft = np.sin(2 * math.pi * v / period)
    over = np.sign(np.sin(math.pi * u / period) * np.sin(math.pi * v / period))
    weave = 0.5 + 0.25 * np.where(over > 0, warp, weft)
    yarn = 0.08 * _smooth(rng, h, w, int(h / period))
    folds = 0.18 * _smooth(rng, h, w, 3)
    light = (0.75 + weave * 0.35 + yarn + folds)[..., None]
    base = _colour(rng)
    if rng.random() < 0.4:  # tartan-like stripes of a second colour
        stripe = (np.sin(2 * math.pi * u / (period * rng.uniform(6, 20))) > 0.6)[..., None]
        base = np.where(stripe, _colour(rng), base)
    img = base * light + rng.normal(0, 3.0, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def wood(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Planks: growth rings from a distant pith, warped by turbulence, with fine grain streaks."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizontal = rng.random() < 0.5
    along, across = (xx, yy) if horizontal else (yy, xx)
    size = float(max(h, w))
    cy = rng.uniform(-2.0, 3.0) * size
    r = np.hypot((along - rng.uniform(0, size)) * 0.15, across - cy)
    turb = 25.0 * _smooth(rng, h, w, 6)
    ring = 0.5 + 0.5 * np.sin(2 * math.pi * (r + turb) / rng.uniform(18, 60))
    grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigmaX=8 if horizontal else 0.8, sigmaY=0.8 if horizontal else 8)
    light_c = np.array([rng.uniform(170, 225), rng.uniform(120, 165), rng.uniform(70, 110)], np.float32)
    dark_c = light_c * rng.uniform(0.45, 0.7)
    t = np.clip(ring ** 2 + 1.5 * grain, 0, 1)[..., None]
    img = light_c * (1 - t) + dark_c * t
    planks = int(rng.integers(2, 5))
    pos = across / (h if horizontal else w) * planks
    seam = (np.abs(pos - np.round(pos)) * (h if horizontal else w) / planks < 1.5)[..., None]
    img = np.where(seam, dark_c * 0.6, img) + rng.normal(0, 2.5, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def texture(kind: str, rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    return {"gradient": gradient, "fabric": fabric, "wood": wood}[kind](rng, w, h)


def photo(path: Path, w: int, h: int, blur_sigma: float) -> np.ndarray:
    """A whole photo, centre-cropped to the frame's aspect and resized to fill it (RGB uint8)."""
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    ih, iw = img.shape[:2]
    scale = max(w / iw, h / ih)
    cw, ch = min(iw, int(round(w / scale))), min(ih, int(round(h / scale)))
    x0, y0 = (iw - cw) // 2, (ih - ch) // 2
    img = cv2.resize(img[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_CUBIC)
    if blur_sigma > 0:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    return img

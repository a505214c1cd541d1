"""Surfaces of the tuning family beyond bench.backgrounds: paper, stone, tiles, knit, prints.

Each is `fn(rng, w, h) -> uint8 RGB`, drawn at a fraction of the frame and upscaled where the
pattern allows (cheap, and real surfaces are smooth at the pixel level anyway).
"""

from __future__ import annotations

import math

import cv2
import numpy as np


def _noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    g = rng.standard_normal((max(2, cells), max(2, int(cells * w / h)))).astype(np.float32)
    return cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)


def _octaves(rng: np.random.Generator, h: int, w: int, base: int, n: int = 4) -> np.ndarray:
    return sum(_noise(rng, h, w, base * 2**i) / 2**i for i in range(n))


def _tint(rng: np.random.Generator, lo: float = 40, hi: float = 235) -> np.ndarray:
    return rng.uniform(lo, hi, 3).astype(np.float32)


def paper(rng, w, h):
    """Coloured paper: flat colour, a faint fibre noise and a slow light falloff."""
    c = _tint(rng, 60, 240)
    img = c * (1 + 0.03 * _octaves(rng, h, w, 3, 2))[..., None]
    img += rng.normal(0, 2.0, (h, w, 1)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def stone(rng, w, h):
    """Granite-like speckle: cells of two or three tones with fine grain."""
    s = 4
    hh, ww = h // s + 1, w // s + 1
    tones = np.stack([_tint(rng, 50, 220) for _ in range(3)])
    idx = np.clip((_octaves(rng, hh, ww, 40, 2) * 1.2 + 1.5).astype(int), 0, 2)
    img = tones[idx] + rng.normal(0, 14, (hh, ww, 1)).astype(np.float32)
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.clip(cv2.GaussianBlur(img, (0, 0), 0.8), 0, 255).astype(np.uint8)


def tiles(rng, w, h):
    """Square or brick-bonded tiles with grout lines."""
    side = int(rng.uniform(0.05, 0.2) * min(w, h))
    grout = max(2, int(side * rng.uniform(0.03, 0.08)))
    face, line = _tint(rng, 80, 240), _tint(rng, 30, 200)
    yy, xx = np.mgrid[0:h, 0:w]
    row = yy // side
    shift = (row % 2) * (side // 2) if rng.random() < 0.5 else 0
    on_line = ((yy % side) < grout) | (((xx + shift) % side) < grout)
    per_tile = rng.uniform(0.9, 1.1, (h // side + 2, w // side + 3))
    col = (xx + shift) // side
    img = face * per_tile[row, col][..., None]
    img = np.where(on_line[..., None], line, img).astype(np.float32)
    img += 6 * _noise(rng, h, w, 30)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def knit(rng, w, h):
    """Coarse knit: V-shaped loops in rows, two colours."""
    p = int(rng.uniform(8, 22))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = np.abs(((xx / p) % 1.0) - 0.5) * 2
    loops = np.sin(((yy / p) + v * 0.6) * math.pi * 2) * 0.5 + 0.5
    a, b = _tint(rng), _tint(rng)
    img = a * loops[..., None] + b * (1 - loops[..., None])
    return np.clip(img + rng.normal(0, 3, (h, w, 1)), 0, 255).astype(np.uint8)


def print_dots(rng, w, h):
    """A printed fabric: polka dots or checks on a ground colour."""
    p = int(rng.uniform(0.02, 0.08) * min(w, h))
    yy, xx = np.mgrid[0:h, 0:w]
    ground, ink = _tint(rng), _tint(rng)
    if rng.random() < 0.5:
        d = np.hypot((xx % p) - p / 2, (yy % p) - p / 2)
        m = (d < p * rng.uniform(0.15, 0.35)).astype(np.float32)
    else:
        m = (((xx // p) + (yy // p)) % 2).astype(np.float32)
    m = cv2.GaussianBlur(m, (0, 0), 0.8)[..., None]
    img = ground * (1 - m) + ink * m
    return np.clip(img + rng.normal(0, 2.5, (h, w, 1)), 0, 255).astype(np.uint8)


def gloss(rng, w, h):
    """Glossy acrylic or lacquer: a dark or light smooth sheet with a broad specular band."""
    c = _tint(rng, 10, 250)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, math.pi)
    t = ((xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a))
    band = np.exp(-((t - rng.uniform(-0.3, 0.3)) / 0.15) ** 2) * rng.uniform(10, 40)
    img = c + band[..., None]
    return np.clip(img + rng.normal(0, 1.5, (h, w, 1)), 0, 255).astype(np.uint8)


def studio(rng, w, h):
    """A neutral seamless sweep, as most product shots have: near-white or light grey, a faint cast,
    the light falling off towards one edge and the floor-to-wall bend a soft band."""
    c = rng.uniform(165, 250) * rng.uniform(0.96, 1.04, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    t = (xx / w - 0.5) * math.cos(a) + (yy / h - 0.5) * math.sin(a)
    fall = 1.0 - rng.uniform(0.0, 0.25) * (t + 0.5)
    bend = 1.0 - rng.uniform(0.0, 0.06) * np.exp(-((yy / h - rng.uniform(0.1, 0.5)) / 0.12) ** 2)
    img = c * (fall * bend)[..., None]
    return np.clip(img + rng.normal(0, 1.0, (h, w, 1)), 0, 255).astype(np.uint8)


def veined(rng, w, h):
    """Veined stone (marble, quartzite): a light ground, or now and then a near-black one, with a
    soft cloudiness and a few families of thin, wandering veins of the other tone."""
    s = 2
    hh, ww = h // s + 1, w // s + 1
    dark = rng.random() < 0.25
    ground = (_tint(rng, 15, 55) if dark else rng.uniform(185, 245) * rng.uniform(0.95, 1.05, 3)).astype(np.float32)
    vein_tone = (rng.uniform(170, 235) * rng.uniform(0.95, 1.05, 3) if dark else rng.uniform(40, 170) * rng.uniform(0.85, 1.1, 3)).astype(np.float32)
    yy, xx = np.mgrid[0:hh, 0:ww].astype(np.float32) / max(hh, ww)
    veins = np.zeros((hh, ww), np.float32)
    for _ in range(int(rng.integers(2, 5))):
        a = rng.uniform(0, math.pi)
        phase = (xx * math.cos(a) + yy * math.sin(a)) * rng.uniform(2.0, 7.0) + rng.uniform(0.2, 0.6) * _octaves(rng, hh, ww, 3, 4)
        width = rng.uniform(0.02, 0.08)
        veins = np.maximum(veins, np.exp(-((np.sin(math.pi * phase) / width) ** 2)) * rng.uniform(0.3, 1.0))
    cloud = 1 + 0.05 * _octaves(rng, hh, ww, 4, 3)
    img = (ground * cloud[..., None]) * (1 - veins[..., None]) + vein_tone * veins[..., None]
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(img + rng.normal(0, 1.5, (h, w, 1)).astype(np.float32), 0, 255).astype(np.uint8)


SURFACES = {"studio": studio, "veined": veined, "paper": paper, "stone": stone, "tiles": tiles, "knit": knit, "print": print_dots, "gloss": gloss}
GLOSSY = {"gloss"}  # surfaces that mirror what stands on them

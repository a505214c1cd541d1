"""Tiled inference: patch, predict, stitch with overlap blending (SAHI's shape, for saliency).

For frames so large (or objects so small) that one 320² view of the whole frame loses them.
"""

from __future__ import annotations

import numpy as np

from .net import resize
from .roi import Box, feather


def tile_boxes(w: int, h: int, grid: int, overlap: float = 0.2) -> list[Box]:
    """A grid x grid cover of the frame with square-ish tiles overlapping by `overlap` of a tile."""
    boxes = []
    tw = int(np.ceil(w / (grid - (grid - 1) * overlap))) if grid > 1 else w
    th = int(np.ceil(h / (grid - (grid - 1) * overlap))) if grid > 1 else h
    tw, th = min(tw, w), min(th, h)
    xs = np.linspace(0, w - tw, grid).round().astype(int) if grid > 1 else [0]
    ys = np.linspace(0, h - th, grid).round().astype(int) if grid > 1 else [0]
    for y in ys:
        for x in xs:
            boxes.append(Box(int(x), int(y), int(x) + tw, int(y) + th))
    return boxes


def stitch(patches: list[np.ndarray], boxes: list[Box], shape: tuple[int, int], ramp: float = 0.2) -> np.ndarray:
    """Weighted average of overlapping patches (each already at its box's size); feathered weights."""
    acc = np.zeros(shape, np.float32)
    wsum = np.zeros(shape, np.float32)
    for patch, box in zip(patches, boxes):
        wgt = feather(box.h, box.w, ramp) + 1e-3
        acc[box.slices()] += wgt * patch
        wsum[box.slices()] += wgt
    return acc / np.maximum(wsum, 1e-6)


def flooded(pred: np.ndarray, fraction: float) -> bool:
    """A tile whose saliency covers most of it found no object: texture lit up everywhere."""
    return float((pred > 0.5).mean()) > fraction


def tiled_predict(
    net, rgb: np.ndarray, grid: int = 2, size: int = 320, overlap: float = 0.2, out_scale: float = 1.0, flood: float | None = None
) -> np.ndarray:
    """Probability map from a grid of `size`² passes, stitched at `out_scale` of the frame's size.

    With `flood`, tiles more than that fraction "salient" count as empty (they localise nothing).
    """
    h, w = rgb.shape[:2]
    boxes = tile_boxes(w, h, grid, overlap)
    preds = net.predict([resize(rgb[b.slices()], (size, size)) for b in boxes])
    if flood is not None:
        preds = [np.zeros_like(p) if flooded(p, flood) else p for p in preds]
    oh, ow = max(1, int(round(h * out_scale))), max(1, int(round(w * out_scale)))
    scaled = [
        Box(int(b.x0 * ow / w), int(b.y0 * oh / h), max(int(b.x0 * ow / w) + 1, int(round(b.x1 * ow / w))), max(int(b.y0 * oh / h) + 1, int(round(b.y1 * oh / h))))
        for b in boxes
    ]
    patches = [resize(p, (sb.w, sb.h)) for p, sb in zip(preds, scaled)]
    return stitch(patches, scaled, (oh, ow))

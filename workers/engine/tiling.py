"""Tiled inference: patch, predict, stitch with overlap blending (SAHI's shape, for saliency).

For frames so large (or objects so small) that one 320² view of the whole frame loses them.
"""

from __future__ import annotations

import cv2
import numpy as np

from .resample import resize
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


def edge_strength(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel colour edge magnitude (float32): the largest Sobel gradient of the L, a, b channels
    after a 3x3 blur (so JPEG and sensor noise do not count as edges)."""
    lab = cv2.cvtColor(cv2.GaussianBlur(rgb, (3, 3), 0), cv2.COLOR_RGB2LAB)
    mag = None
    for c in cv2.split(lab):
        m = cv2.magnitude(cv2.Sobel(c, cv2.CV_32F, 1, 0), cv2.Sobel(c, cv2.CV_32F, 0, 1))
        mag = m if mag is None else np.maximum(mag, m, out=mag)
    return mag


def grid_for(h: int, w: int, grid_max: int = 3) -> int:
    """Tiles per side for a frame: 2, or one more per 2000 px of its long side, at most `grid_max`."""
    return min(grid_max, max(2, int(np.ceil(max(h, w) / 2000))))


def edge_strength_at(rgb: np.ndarray, long_side: int) -> np.ndarray:
    """edge_strength of the frame seen at `long_side` px (never upscaled)."""
    h, w = rgb.shape[:2]
    side = min(1.0, long_side / max(h, w))
    return edge_strength(resize(rgb, (max(1, round(w * side)), max(1, round(h * side)))))


def edge_peak(edges: np.ndarray, box: Box, frame: tuple[int, int]) -> float:
    """The strongest edge inside `box` (frame pixels) of `edges` (the frame's edge_strength at any scale)."""
    sy, sx = edges.shape[0] / frame[1], edges.shape[1] / frame[0]
    y0, y1 = int(box.y0 * sy), max(int(box.y0 * sy) + 1, int(np.ceil(box.y1 * sy)))
    x0, x1 = int(box.x0 * sx), max(int(box.x0 * sx) + 1, int(np.ceil(box.x1 * sx)))
    return float(edges[y0:y1, x0:x1].max())


def calm(edges: np.ndarray, box: Box, frame: tuple[int, int], level: float) -> bool:
    """Is there no edge above `level` in this tile? A tile of plain backdrop: nothing there for the
    network to find. `level` sits in the wide gap between the edge peaks of empty backdrop tiles and
    of tiles holding any object (`python -m bench.tiles` measures both; docs/engine.md, step 2)."""
    return edge_peak(edges, box, frame) < level


def tiled_predict(
    net, rgb: np.ndarray, grid: int = 2, size: int = 320, overlap: float = 0.2, out_scale: float = 1.0, flood: float | None = None,
    edges: np.ndarray | None = None, calm_level: float = 30.0,
) -> np.ndarray:
    """Probability map from a grid of `size`² passes, stitched at `out_scale` of the frame's size.

    With `flood`, tiles more than that fraction "salient" count as empty (they localise nothing).
    With `edges` (the frame's edge_strength), calm tiles (plain backdrop) are not run at all.
    """
    h, w = rgb.shape[:2]
    boxes = tile_boxes(w, h, grid, overlap)
    run = [edges is None or not calm(edges, b, (w, h), calm_level) for b in boxes]
    ran = iter(net.predict([resize(rgb[b.slices()], (size, size)) for b, r in zip(boxes, run) if r]) if any(run) else [])
    preds = [next(ran) if r else np.zeros((size, size), np.float32) for r in run]
    if flood is not None:
        preds = [np.zeros_like(p) if flooded(p, flood) else p for p in preds]
    oh, ow = max(1, int(round(h * out_scale))), max(1, int(round(w * out_scale)))
    scaled = [
        Box(int(b.x0 * ow / w), int(b.y0 * oh / h), max(int(b.x0 * ow / w) + 1, int(round(b.x1 * ow / w))), max(int(b.y0 * oh / h) + 1, int(round(b.y1 * oh / h))))
        for b in boxes
    ]
    patches = [resize(p, (sb.w, sb.h)) for p, sb in zip(preds, scaled)]
    return stitch(patches, scaled, (oh, ow))

"""Matte quality metrics, per image and per object. Pure functions on numpy arrays.

Masks are boolean (alpha > 127); MAE works on the soft alpha. Each object of a multi-object image
is scored inside its own window (its box grown by `window_margin`, minus the other objects' boxes)
so that every object gets its own score and size bucket, and a missed tiny object is not hidden
by a well-cut large one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .synth import window_margin

BUCKETS = (("<0.2%", 0.0, 0.002), ("0.2-1%", 0.002, 0.01), ("1-5%", 0.01, 0.05), (">5%", 0.05, 1.01))
MIN_HOLE_PX = 12  # holes smaller than this are too few pixels to score


def bucket(area_frac: float) -> str:
    for label, lo, hi in BUCKETS:
        if lo <= area_frac < hi:
            return label
    return BUCKETS[-1][0]


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union of two boolean masks; two empty masks agree perfectly."""
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def mae(pred_alpha: np.ndarray, gt_alpha: np.ndarray) -> float:
    """Mean absolute alpha error in [0, 1]."""
    if pred_alpha.size == 0:
        return 0.0
    return float(np.mean(np.abs(pred_alpha.astype(np.float32) - gt_alpha.astype(np.float32)))) / 255.0


def boundary(mask: np.ndarray) -> np.ndarray:
    """Pixels of the mask with a 4-neighbour outside it (frame edges do not count as boundary)."""
    m = mask.astype(np.uint8)
    er = cv2.erode(m, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), borderType=cv2.BORDER_REPLICATE)
    return (m > 0) & (er == 0)


def boundary_tolerance(width: int, height: int) -> float:
    return max(2.0, 0.0025 * math.hypot(width, height))


def boundary_f(pred: np.ndarray, gt: np.ndarray, tol: float) -> float:
    """Boundary F-measure: boundary pixels of each mask that lie within `tol` px of the other's."""
    bp, bg = boundary(pred), boundary(gt)
    n_p, n_g = int(bp.sum()), int(bg.sum())
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0
    d_to_g = cv2.distanceTransform((~bg).astype(np.uint8), cv2.DIST_L2, 3)
    d_to_p = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float(np.mean(d_to_g[bp] <= tol))
    recall = float(np.mean(d_to_p[bg] <= tol))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def holes(mask: np.ndarray) -> np.ndarray:
    """Background regions fully enclosed by the mask (the holes of rings, buttons, chain links)."""
    m = np.pad(mask.astype(np.uint8), 1)
    flood = m.copy()
    ff = np.zeros((m.shape[0] + 2, m.shape[1] + 2), np.uint8)
    cv2.floodFill(flood, ff, (0, 0), 1)
    return (flood == 0)[1:-1, 1:-1]


@dataclass(frozen=True)
class Window:
    """An object's scoring window: a rectangle of the frame and which of its pixels count."""

    x0: int
    y0: int
    x1: int
    y1: int
    keep: np.ndarray  # bool, shape (y1-y0, x1-x0)

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


def object_windows(bboxes: list[list[int]], width: int, height: int) -> list[Window]:
    """One window per object box [x, y, w, h]: the box grown by its margin, other boxes cut out."""
    out = []
    for i, (x, y, w, h) in enumerate(bboxes):
        m = window_margin(w, h)
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(width, x + w + m), min(height, y + h + m)
        keep = np.ones((y1 - y0, x1 - x0), bool)
        for j, (ox, oy, ow, oh) in enumerate(bboxes):
            if j != i:
                keep[max(0, oy - 2 - y0) : max(0, oy + oh + 2 - y0), max(0, ox - 2 - x0) : max(0, ox + ow + 2 - x0)] = False
        out.append(Window(x0, y0, x1, y1, keep))
    return out


def score_object(pred_alpha: np.ndarray, gt_alpha: np.ndarray, win: Window, tol: float) -> dict:
    """IoU, MAE, boundary F and hole leakage of one object inside its window."""
    sl = win.slices()
    pa = np.where(win.keep, pred_alpha[sl], 0)
    ga = np.where(win.keep, gt_alpha[sl], 0)
    p, g = pa > 127, ga > 127
    h = holes(g) & win.keep
    n_holes = int(h.sum())
    inter = int(np.count_nonzero(p & g))
    return {
        "iou": iou(p, g),
        "mae": mae(pred_alpha[sl][win.keep], gt_alpha[sl][win.keep]),
        "bf": boundary_f(p, g, tol),
        "recall": inter / max(1, int(g.sum())),
        "precision": inter / max(1, int(p.sum())),
        "hole_px": n_holes,
        # fraction of the object's holes predicted as foreground (None: no scorable hole)
        "hole_fg": float(np.mean(p[h])) if n_holes >= MIN_HOLE_PX else None,
    }


def score_image(pred_alpha: np.ndarray, gt_alpha: np.ndarray, windows: list[Window], min_blob_frac: float = 2e-4) -> dict:
    """Whole-frame IoU and MAE, plus foreground predicted away from every object (false positives)."""
    p, g = pred_alpha > 127, gt_alpha > 127
    outside = p.copy()
    for w in windows:
        outside[w.slices()] &= ~w.keep
    frame = p.size
    n, _, stats, _ = cv2.connectedComponentsWithStats(outside.astype(np.uint8), connectivity=8)
    blobs = int(np.sum(stats[1:, cv2.CC_STAT_AREA] >= max(4, min_blob_frac * frame))) if n > 1 else 0
    return {"iou": iou(p, g), "mae": mae(pred_alpha, gt_alpha), "fp_frac": float(outside.sum()) / frame, "fp_blobs": blobs}


def _shadow_area(gt_alpha: np.ndarray, shadow: np.ndarray | None) -> np.ndarray | None:
    """Where a shadow or reflection shows: the shadow mask over half and no object over it."""
    return None if shadow is None else (shadow > 127) & (gt_alpha == 0)


def shadow_kept(pred_alpha: np.ndarray, gt_alpha: np.ndarray, shadow: np.ndarray | None) -> tuple[float | None, int]:
    """Share of the shadow and reflection area returned as foreground, and that area in pixels.

    The area is where the shadow mask is over half (shadow > 127) and no object covers the pixel
    (gt alpha 0); kept means pred alpha > 127 there. None when the frame has no such area."""
    area = _shadow_area(gt_alpha, shadow)
    if area is None:
        return None, 0
    n = int(np.count_nonzero(area))
    if n == 0:
        return None, 0
    return float(np.count_nonzero(area & (pred_alpha > 127))) / n, n


def shadow_opacity(pred_alpha: np.ndarray, gt_alpha: np.ndarray, shadow: np.ndarray | None) -> float | None:
    """Mean predicted opacity (0..1) over the same shadow and reflection area as `shadow_kept`.

    `shadow_kept` counts pixels over half opaque; a shadow turned into a faint grey film (alpha
    30/255 all over) scores 0 there and shows here. None when the frame has no such area."""
    area = _shadow_area(gt_alpha, shadow)
    if area is None or not area.any():
        return None
    return float(pred_alpha[area].mean(dtype=np.float64)) / 255.0

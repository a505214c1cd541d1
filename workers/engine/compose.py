"""From an alpha to output pixels (mask, RGBA cutout, flattened on a colour, with a kept shadow
layer), and the per-cutout object statistics. Pure numpy in, numpy out."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from . import postprocess
from .labelling import components_with_stats
from .options import CutoutOptions

# The colour bleed reaches this share of the frame's long side under soft edges, within these
# pixel bounds: enough to cover a guided filter's soft rim, never a wide halo on a huge frame.
BLEED_SHARE, BLEED_MIN_PX, BLEED_MAX_PX = 0.015, 6, 48
# Regions under this many pixels are dust, not objects, in the statistics a reviewer sorts by.
OBJECT_MIN_PX = 16


def object_sizes(alpha: np.ndarray, min_px: int = OBJECT_MIN_PX) -> dict:
    """How many foreground regions the cutout has and how small the smallest is (share of the frame).

    What a reviewer sorts by to check the small objects first: the image's size says nothing about them.
    Regions under `min_px` pixels are dust, not objects.
    """
    fg = cv2.threshold(alpha, 127, 1, cv2.THRESH_BINARY)[1]
    x, y, w, h = cv2.boundingRect(fg)  # label only the box around the objects
    if w == 0 or h == 0:
        return {"objects": 0, "min_object_frac": 0.0}  # (OpenCV crashes on an empty image)
    n, _, stats, _ = components_with_stats(fg[y : y + h, x : x + w])
    areas = stats[1:, cv2.CC_STAT_AREA]
    areas = areas[areas >= min_px]
    if areas.size == 0:
        return {"objects": 0, "min_object_frac": 0.0}
    return {"objects": int(areas.size), "min_object_frac": round(float(areas.min()) / alpha.size, 7)}


def to_alpha(prob: np.ndarray) -> np.ndarray:
    """0..1 → 0..255, rounded and saturated (one OpenCV pass; negatives clamp to 0, not to |p|)."""
    return cv2.convertScaleAbs(cv2.threshold(prob.astype(np.float32, copy=False), 0.0, 0.0, cv2.THRESH_TOZERO)[1], alpha=255.0)


def bleed_band(shape: tuple[int, ...]) -> int:
    """Pixels of colour bleed under soft edges for a frame of this shape."""
    return int(np.clip(BLEED_SHARE * max(shape), BLEED_MIN_PX, BLEED_MAX_PX))


def compose(rgb: np.ndarray, alpha: np.ndarray, options: CutoutOptions, bleed: bool = True,
            shadow: np.ndarray | None = None, bleed_px: int | None = None) -> np.ndarray:
    """Final pixels: L mask, RGBA cutout (colours bled under soft edges), or flattened on a colour.

    `shadow` (uint8 opacity, kept shadows): a black layer under the object, so that on any new
    backdrop it darkens what is behind it as the shadow darkened the old one. `bleed_px`: the
    bleed's reach when `rgb` is a band of a larger frame (default: bleed_band of this one)."""
    if shadow is not None and shadow.any():
        return _with_shadow(rgb, alpha, options, bleed, shadow, bleed_px)
    if options.mask_only:
        return alpha
    band = bleed_band(alpha.shape) if bleed_px is None else bleed_px
    if bleed:
        rgba = postprocess.bleed_rgba(rgb, alpha, band)
    else:
        rgba = np.zeros((*alpha.shape, 4), np.uint8)
        np.copyto(rgba[..., :3], rgb, where=(alpha > 0)[..., None])
        rgba[..., 3] = alpha
    if options.bg_color is None:
        return rgba
    return flatten(rgba[..., :3], alpha, options.bg_color)


def flatten(colours: np.ndarray, alpha: np.ndarray, bg_color: tuple[int, int, int, int]) -> np.ndarray:
    """Colours with an alpha laid over a colour (RGBA too: a translucent backdrop keeps some transparency)."""
    bg = np.asarray(bg_color, np.float32)
    a = alpha.astype(np.float32)[..., None] / 255.0
    rgb_out = colours.astype(np.float32) * a + bg[:3] * (1.0 - a)
    a_out = alpha.astype(np.float32) + bg[3] * (1.0 - a[..., 0])
    return np.dstack([np.clip(rgb_out + 0.5, 0, 255).astype(np.uint8), np.clip(a_out + 0.5, 0, 255).astype(np.uint8)])


def _with_shadow(rgb: np.ndarray, alpha: np.ndarray, options: CutoutOptions, bleed: bool, shadow: np.ndarray,
                 bleed_px: int | None) -> np.ndarray:
    """`compose` with a kept shadow: the object over a black layer of the shadow's opacity."""
    a_obj = alpha.astype(np.float32) / 255.0
    a_sh = shadow.astype(np.float32) / 255.0 * (1.0 - a_obj)
    total = to_alpha(a_obj + a_sh)
    if options.mask_only:
        return total
    obj = compose(rgb, alpha, replace(options, bg_color=None), bleed=bleed, bleed_px=bleed_px)
    # premultiplied: the shadow's colour is black, so only the alpha grows and the colour is diluted
    colour = obj[..., :3].astype(np.float32) * (a_obj / np.maximum(a_obj + a_sh, 1e-6))[..., None]
    rgba = np.dstack([np.clip(colour + 0.5, 0, 255).astype(np.uint8), total])
    if options.bg_color is None:
        return rgba
    return compose(rgba[..., :3], total, replace(options, shadow="remove"), bleed=False)

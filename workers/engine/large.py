"""Frames too large to hold as full-resolution float maps: the plan runs on a reduced copy, the
full-resolution alpha and output are built a band of rows at a time.

A 120 MP frame's probability map alone is 480 MB of float32, and the plan makes several such maps;
its RGBA output another 480 MB. Here the network passes and every decision run on the frame reduced
to `large_work_side` (a JPEG is reduced inside its decoder, so the full frame is not even decoded
then), and only the final steps see full resolution: the reduced map upsampled a band at a time,
its edges refined against the photo there, and the band composed straight into the output. What is
held at full resolution is the photo (3 bytes per pixel) and the output (1 or 4).
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from . import codec, postprocess
from .compose import bleed_band, compose, to_alpha
from .config import LargeFrameKnobs
from .options import CutoutOptions

# Full-resolution rows are processed this many pixels at a time (plus their halo): small next to
# the frame, large enough that the per-band overhead stays small.
BAND_PIXELS = 4_000_000
# OpenCV's warps address pixels with shorts: an output wider than this is warped in column chunks.
MAX_WARP_SIDE = 16_384
# Above this frame-scale probability the edge refinement has nothing to change in a band.
SURE_LOW, SURE_HIGH = 0.02, 0.98


def channels(options: CutoutOptions) -> int:
    """Channels of the output `compose` makes for `options` (a mask: 1; a cut-out, flattened or not: 4)."""
    return 1 if options.mask_only else 4


def is_large(size: tuple[int, int] | None, cfg: LargeFrameKnobs) -> bool:
    """Does a frame of `size` (w, h) take the large path?"""
    return size is not None and cfg.large_above_px > 0 and size[0] * size[1] > cfg.large_above_px


def work_frame(data: bytes, cfg: LargeFrameKnobs, max_pixels: int) -> np.ndarray:
    """The frame at most `large_work_side` long: reduced in the decoder where the format allows
    (JPEG), else decoded and reduced (the full decode is dropped before the plan runs)."""
    rgb, _ = codec.decode_reduced(data, cfg.large_work_side, max_pixels)
    h, w = rgb.shape[:2]
    scale = cfg.large_work_side / max(h, w)
    if scale < 1.0:
        rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return rgb


def upsample_rows(src: np.ndarray, size: tuple[int, int], y0: int, y1: int) -> np.ndarray:
    """Rows [y0, y1) of `src` resized (bilinear, pixel centres aligned as cv2.resize aligns them)
    to `size` (w, h), without making the other rows."""
    w_out, h_out = size
    h, w = src.shape[:2]
    sx, sy = w / w_out, h / h_out
    out = np.empty((y1 - y0, w_out, *src.shape[2:]), src.dtype)
    for x0 in range(0, w_out, MAX_WARP_SIDE):
        x1 = min(w_out, x0 + MAX_WARP_SIDE)
        m = np.float32([[sx, 0, (x0 + 0.5) * sx - 0.5], [0, sy, (y0 + 0.5) * sy - 0.5]])
        out[:, x0:x1] = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                       borderMode=cv2.BORDER_REPLICATE)
    return out


def compose_bands(rgb: np.ndarray, alpha: np.ndarray, shadow: np.ndarray | None, options: CutoutOptions, bleed: bool,
                  edges: bool) -> Iterator[np.ndarray]:
    """The output pixels (as `compose.compose` makes them) for the full-resolution `rgb` from a
    reduced alpha (and kept shadow layer), as blocks of rows, top to bottom (for
    codec.encode_png_rows: the whole output never exists). `edges`: refine the upsampled alpha against the photo at full resolution (the
    guided filter at the frame's radius, as post-processing does for a frame this size)."""
    h, w = rgb.shape[:2]
    radius = max(2, int(round(min(h, w) / 200)))  # postprocess.refine_edges' radius for this frame
    bleed_px = bleed_band((h, w))
    # a band's edges and bleed must be what they would be on the whole frame: each band is computed
    # with a halo of rows around it that the filters and the bleed read, then cut off
    halo = 3 * radius + 2 * bleed_px
    rows = max(16, BAND_PIXELS // max(1, w))
    prob_small = alpha.astype(np.float32) * (1.0 / 255.0)
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        a0, a1 = max(0, y0 - halo), min(h, y1 + halo)
        p = upsample_rows(prob_small, (w, h), a0, a1)
        if edges and cv2.countNonZero(cv2.inRange(p, SURE_LOW, SURE_HIGH)):
            p = postprocess.refine_edges(rgb[a0:a1], p, radius=radius)
        a8 = to_alpha(p)
        del p
        sh = upsample_rows(shadow, (w, h), a0, a1) if shadow is not None else None
        part = compose(rgb[a0:a1], a8, options, bleed=bleed, shadow=sh, bleed_px=bleed_px)
        yield part[y0 - a0 : y1 - a0]

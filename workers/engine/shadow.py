"""Is a pixel the object, or the backdrop seen darker, mirrored or through a hole? A learned answer.

u2netp calls a product's shadow (and its reflection on a glossy surface) half-salient: it comes back
as a grey band around the object. What tells them apart is physics the network never had to learn:
a shadow is the backdrop *multiplied* by a factor under one (same chromaticity, same texture scaled
by the same factor, soft penumbra), a reflection is the backdrop with a faint mirrored image, a ring's
hole is the backdrop itself. So each candidate pixel is compared with an estimate of the backdrop
behind it (filled in from the sure background around the objects), and a small classifier trained on
the tuning family (training/matte_classifier.py) turns those comparisons, with the network's own
map, into the probability that the pixel belongs to an object.

Pure functions: numpy in, numpy out. The weights are a JSON file shipped with the package.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from .labelling import components_with_stats
from .mlp import Classifier
from .postprocess import is_small_or_ring, push_pull_fill
from .resample import shrink

WEIGHTS = Path(__file__).with_name("data") / "matte_classifier.json"
SURE_BG = 0.05  # network probability under which a pixel is taken as backdrop for the estimate
CANDIDATE = 0.02  # pixels the classifier is asked about: everything the network lit up at all
FEATURES = (
    "p", "p_context", "log_lum_ratio", "log_lum_ratio_context", "log_lum_ratio_spread", "channel_ratio_spread",
    "chroma_diff", "delta_lab", "texture_ratio", "grad_log_lum", "dist_bg", "dist_bg_rel", "lum_bg", "sat", "sat_bg",
)


@functools.lru_cache(maxsize=2)
def load_classifier(path: str | None = None) -> Classifier | None:
    """The shipped classifier, or None when the package has none (then the step does nothing)."""
    p = Path(path) if path else WEIGHTS
    return Classifier.from_json(p.read_text(), FEATURES) if p.exists() else None


def luminance(img: np.ndarray) -> np.ndarray:
    """Luma (BT.601 weights) of float RGB, H x W x 3 -> H x W."""
    return img @ np.float32([0.299, 0.587, 0.114])


def _local_std(x: np.ndarray, k: int = 5) -> np.ndarray:
    m = cv2.blur(x, (k, k))
    return np.sqrt(np.maximum(cv2.blur(x * x, (k, k)) - m * m, 0.0))


def _channel_range(c: np.ndarray) -> np.ndarray:
    """max - min over the 3 channels of N x 3 (numpy's reductions over a short axis are slow)."""
    r, g, b = c[:, 0], c[:, 1], c[:, 2]
    return np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)


def _sum3(c: np.ndarray) -> np.ndarray:
    """The sum over the 3 channels of N x 3, in numpy's order ((r + g) + b), without its slow short-axis reduction."""
    return c[:, 0] + c[:, 1] + c[:, 2]


def _spread(c: np.ndarray) -> np.ndarray:
    """Standard deviation over the 3 channels of N x 3, as numpy's std(axis=1) computes it."""
    d = c - (_sum3(c) / np.float32(3))[:, None]
    d *= d
    return np.sqrt(_sum3(d) / np.float32(3))


def work_views(rgb: np.ndarray, prob: np.ndarray, side: int) -> list[tuple[tuple[slice, slice], np.ndarray, np.ndarray]]:
    """The regions around what the network lit up, each with a margin of backdrop for the estimate and
    at most `side` px long: [(slices in the frame, float32 image, float32 prob)].

    One region per group of nearby objects, so that a ring beside a large product is looked at in
    its own pixels, not as a 3-px smudge of a frame-wide view.
    """
    lit = cv2.compare(prob, CANDIDATE, cv2.CMP_GT)  # 255 where lit, in one pass
    h, w = prob.shape
    s = min(1.0, 256 / max(h, w))
    small = shrink(lit, (max(1, round(w * s)), max(1, round(h * s)))) if s < 1 else lit
    # a pixel of the small view is lit when most of what it covers is
    small = cv2.dilate((small >= 128).view(np.uint8), np.ones((5, 5), np.uint8))  # nearby pieces: one region
    n, _, stats, _ = components_with_stats(small)
    views = []
    for x, y, bw, bh, _ in stats[1:]:
        x0, y0 = int(x / s), int(y / s)
        x1, y1 = min(w, int(np.ceil((x + bw) / s))), min(h, int(np.ceil((y + bh) / s)))
        pad = max(8, int(0.25 * max(x1 - x0, y1 - y0)))
        sub = (slice(max(0, y0 - pad), min(h, y1 + pad)), slice(max(0, x0 - pad), min(w, x1 + pad)))
        p, img = prob[sub], rgb[sub]
        ch, cw = p.shape
        scale = min(1.0, side / max(ch, cw))
        size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
        # the classifier reads local contrast: an area step, no aliased texture
        views.append((sub, shrink(img, size, area_last=True).astype(np.float32),
                      shrink(p, size, area_last=True).astype(np.float32, copy=False)))
    return views


# Every map but the two backdrop fills is needed only around the candidates: the widest neighbourhood
# read there is the context blur's (sigma 4: OpenCV's kernel reaches 16 px), so the candidates' box
# grown by this much gives the same values as the whole view.
CONTEXT_SIGMA = 4.0
CROP_MARGIN = 17


def features(img: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict]:
    """Per-pixel features of the candidate pixels (prob > CANDIDATE) of a working-size frame.

    `img` float32 RGB 0..255, `prob` float32 0..1, same size. Returns (features N x F, the candidate
    mask, the maps the shadow layer reuses: backdrop estimate and luminance ratio).
    """
    h, w = prob.shape
    cand = prob > CANDIDATE
    sure = (prob < SURE_BG).astype(np.float32)
    # the backdrop behind each pixel, from the sure background around it (the whole view)
    back = push_pull_fill(img, sure)
    lum, lum_back = luminance(img), luminance(back)
    ratio_full = np.log((lum + 4.0) / (lum_back + 4.0))
    maps = {"back": back, "lum_ratio": np.exp(ratio_full)}
    if not cand.any():
        return np.zeros((0, len(FEATURES)), np.float32), cand, maps
    # texture: a shadow scales the backdrop's local contrast by its own darkening, an object has its own
    tex = _local_std(lum)
    tex_b = push_pull_fill(tex, sure)
    # the rest on the candidates' box (plus the neighbourhoods read there) ...
    bx, by, bw, bh = cv2.boundingRect(cand.view(np.uint8))
    c = (slice(max(0, by - CROP_MARGIN), min(h, by + bh + CROP_MARGIN)),
         slice(max(0, bx - CROP_MARGIN), min(w, bx + bw + CROP_MARGIN)))
    p, ratio = prob[c], ratio_full[c]
    log_lum = np.log(lum[c] + 4.0)
    gx = cv2.Sobel(log_lum, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(log_lum, cv2.CV_32F, 0, 1, ksize=3)
    # px to the nearest sure backdrop (OpenCV answers ~1e20 where there is none: capped at the view's
    # size); the box's own border is sure backdrop, so the distances inside are the view's
    dist = np.minimum(cv2.distanceTransform((p >= SURE_BG).astype(np.uint8), cv2.DIST_L2, 3), float(max(h, w)))
    fg = (p > 0.5).astype(np.uint8)
    n, lab_cc, stats, _ = components_with_stats(fg)
    size = np.sqrt(np.maximum(stats[:, cv2.CC_STAT_AREA], 1)).astype(np.float32)
    size[0] = max(4.0, float(np.sqrt(max(1, int(fg.sum())))))  # pixels outside any sure blob: the objects' scale
    ctx = cv2.GaussianBlur(p, (0, 0), CONTEXT_SIGMA)
    ratio_ctx = cv2.GaussianBlur(ratio, (0, 0), CONTEXT_SIGMA)
    # ... and what is per pixel on the candidates alone: gathered by flat index, from the box's own
    # maps and straight from the view's (a crop of a view's map would be copied whole to be gathered)
    idx = np.flatnonzero(cand[c])
    ys, xs = np.divmod(idx, c[1].stop - c[1].start)
    idx_view = (ys + c[0].start) * w + (xs + c[1].start)

    def at(m: np.ndarray) -> np.ndarray:
        """A map of the box, or of the whole view, at the candidates: N or N x channels."""
        flat = m.reshape(-1, *m.shape[2:])
        return flat[idx_view] if m.shape[:2] == (h, w) else flat[idx]

    img_k, back_k, ratio_k = at(img), at(back), at(ratio_full)
    chroma = img_k / (_sum3(img_k) + 12.0)[:, None]
    chroma_b = back_k / (_sum3(back_k) + 12.0)[:, None]
    lab = cv2.cvtColor(np.clip(img_k / 255.0, 0, 1)[None], cv2.COLOR_RGB2Lab)[0]
    lab_b = cv2.cvtColor(np.clip(back_k / 255.0, 0, 1)[None], cv2.COLOR_RGB2Lab)[0]
    tex_k, dist_k = at(tex), at(dist)
    cols = [
        at(p), at(ctx), ratio_k, at(ratio_ctx), at(_local_std(ratio)),
        _spread(np.log((img_k + 4.0) / (back_k + 4.0))),
        _sum3(np.abs(chroma - chroma_b)),
        np.sqrt(_sum3((lab - lab_b) ** 2)) / 100.0,
        np.log(tex_k + 1.0) - np.log(at(tex_b) + 1.0) - ratio_k,
        np.hypot(at(gx), at(gy)),
        np.log1p(dist_k),
        dist_k / size[at(lab_cc)],
        at(lum_back) / 255.0,
        _channel_range(img_k) / 255.0,
        _channel_range(back_k) / 255.0,
    ]
    x = np.stack(cols, axis=1).astype(np.float32)
    return x, cand, maps


def object_probability(img: np.ndarray, prob: np.ndarray, clf: Classifier) -> tuple[np.ndarray, dict]:
    """P(object) per pixel (1 where the network saw nothing to ask about is irrelevant: prob ~ 0 there)."""
    x, cand, maps = features(img, prob)
    out = np.ones(prob.shape, np.float32)
    if len(x):
        out[cand] = clf.predict(x)
    return out, maps


def gate(p_obj: np.ndarray, lo: float = 0.3, hi: float = 0.7) -> np.ndarray:
    """How much of the network's value a pixel keeps: none where the classifier says backdrop, all
    where it says object, a smooth step between (its soft edges stay the network's)."""
    t = np.clip((p_obj - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def clear_doubted(before: np.ndarray, after: np.ndarray, below: float) -> np.ndarray:
    """`after` with the pixels the gate lowered that end under `below` set to 0.

    A classifier unsure on a shadow answers inside the gate's soft band: the network's value is
    only scaled down and the shadow comes back as a faint grey film. Under half-opaque the pixel is
    backdrop in the mask anyway; its soft edge is the guided filter's to make from the photo."""
    return np.where((after < before) & (after < below), np.float32(0.0), after).astype(after.dtype, copy=False)


def keep_large_interiors(before: np.ndarray, after: np.ndarray, max_area: float) -> np.ndarray:
    """`after` with the holes it opened inside objects larger than `max_area` px given back their
    `before` values (shadows and reflections lie outside an object; only a small object's holes,
    a ring's or a button's, are the step's to open; `postprocess.is_small_or_ring`)."""
    fg = (after > 0.5).astype(np.uint8)
    opened = (before > 0.5) & (fg == 0)
    if not opened.any():
        return after
    # pixels not reachable from the view's border without crossing the objects: enclosed
    free = np.pad(1 - fg, 1, constant_values=1)
    cv2.floodFill(free, np.zeros((free.shape[0] + 2, free.shape[1] + 2), np.uint8), (0, 0), 2)
    enclosed = free[1:-1, 1:-1] == 1
    solid = (fg > 0) | enclosed
    n, lab, stats, _ = components_with_stats(solid.astype(np.uint8))
    # a ring shot close encloses much of the frame with a few percent of metal: its hole is the step's to open
    body = np.bincount(lab[fg > 0], minlength=n)
    outline = stats[:, cv2.CC_STAT_AREA]
    large = np.flatnonzero([not is_small_or_ring(o, o - b, max_area) for o, b in zip(outline, body)])
    large = large[large > 0]
    if not len(large):
        return after
    give_back = enclosed & opened & np.isin(lab, large)
    if not give_back.any():
        return after
    out = after.copy()
    out[give_back] = before[give_back]
    return out


def shadow_layer(prob_before: np.ndarray, prob_after: np.ndarray, lum_ratio: np.ndarray, reach: float) -> np.ndarray:
    """Opacity (0..1) of a black layer that darkens a new backdrop as the shadow darkened the old one.

    Only where the step took foreground away (what the network saw as part of the object) and the
    backdrop is darker than its surroundings, within `reach` px of the object.
    """
    removed = np.clip(prob_before - prob_after, 0.0, 1.0)
    dark = np.clip(1.0 - lum_ratio, 0.0, 0.9)
    near = cv2.distanceTransform((prob_after < 0.5).astype(np.uint8), cv2.DIST_L2, 3) <= reach
    layer = np.where(near, dark * np.clip(removed * 2.0, 0.0, 1.0), 0.0).astype(np.float32)
    return cv2.GaussianBlur(layer, (0, 0), 1.0)

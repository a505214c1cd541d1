"""Texture floods: the network calling a whole textured surface salient (wood grain, some fabrics).

u2netp learnt "one subject on a background" from photos; on strongly grained wood it lights up the
whole surface at every scale we look at, tiles included, and the frame comes out as foreground.
On the map alone such a flood is a large confident blob, like a frame-filling subject. Colour
statistics tell them apart: a textured surface looks the same everywhere (each cell of the frame
has the frame's colour histogram), and the flooded part looks like what is left around it, while
a real subject's colours differ from its surroundings. On such a surface the small objects are
found where the network is no help: by colours the surface does not have.

Pure functions on numpy arrays (Lab uint8 images as OpenCV makes them).
"""

from __future__ import annotations

import cv2
import numpy as np

from .labelling import components_with_stats

BINS = (8, 16, 16)  # L, a, b: coarse on lightness (shading), finer on chroma
N_BINS = BINS[0] * BINS[1] * BINS[2]


def lab_bins(lab8: np.ndarray, bins: tuple[int, int, int] = BINS) -> np.ndarray:
    """Per-pixel colour bin (int32) of an OpenCV Lab uint8 image; `bins` per channel, powers of two."""
    nl, na, nb = bins
    shift = [8 - (n.bit_length() - 1) for n in bins]
    return ((lab8[..., 0].astype(np.int32) >> shift[0]) * na + (lab8[..., 1].astype(np.int32) >> shift[1])) * nb + (
        lab8[..., 2].astype(np.int32) >> shift[2]
    )


def colour_index(rgb: np.ndarray) -> np.ndarray:
    """Per-pixel colour bin (int32) of an RGB uint8 image, in Lab (BINS)."""
    return lab_bins(cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB))


def smoothed_colour_index(rgb: np.ndarray) -> np.ndarray:
    """colour_index after a 3x3 blur (pixel noise off the bins): how rare colours are read, both
    where their table is made and where a crop is looked up in it."""
    return colour_index(cv2.GaussianBlur(rgb, (3, 3), 0))


def histogram(idx: np.ndarray, mask: np.ndarray | None = None, n_bins: int = N_BINS) -> np.ndarray:
    """Normalised colour histogram of the bins in `idx` (where `mask`)."""
    values = idx[mask] if mask is not None else idx.ravel()
    h = np.bincount(values, minlength=n_bins).astype(np.float32)
    return h / max(1.0, float(h.sum()))


def intersection(a: np.ndarray, b: np.ndarray) -> float:
    """Histogram intersection: 1 for the same colour distribution, 0 for disjoint ones."""
    return float(np.minimum(a, b).sum())


def homogeneity(idx: np.ndarray, grid: int = 4) -> float:
    """Mean intersection of each cell's histogram with the whole frame's (grid x grid cells).

    A grained surface alone scores near 1 everywhere; a photo with a subject scores lower, since the
    subject's cells differ from the frame (the values behind the threshold: docs/engine.md).
    """
    h, w = idx.shape
    whole = histogram(idx)
    scores = []
    for gy in range(grid):
        for gx in range(grid):
            cell = idx[gy * h // grid : (gy + 1) * h // grid, gx * w // grid : (gx + 1) * w // grid]
            scores.append(intersection(histogram(cell), whole))
    return float(np.mean(scores))


def flood_mask(
    prob: np.ndarray,
    idx: np.ndarray,
    large_box_frac: float = 0.12,
    min_homogeneity: float = 0.90,
    min_similarity: float = 0.8,
    max_outline: float = 40.0,
    min_stripes: int = 3,
    level: float = 0.5,
    ring: int = 7,
) -> np.ndarray:
    """Where a saliency map's large confident blobs are texture, not a subject (bool, map-sized).

    `idx` is the frame's colour_index at the map's size. Ragged blobs (a pattern followed) count on
    any frame (`max_outline` 0: never); blobs whose surroundings' colours match their own only on a
    homogeneous frame (see `textured_blobs`); bands repeated across the frame on any frame (see
    `striped_blobs` and `banded_blobs`; `min_stripes` 0: never).
    """
    if not (prob > level).any():
        return np.zeros(prob.shape, bool)
    blobs = _large_blobs(prob, large_box_frac, level)  # labelled once for the three tests
    out = ragged_blobs(prob, large_box_frac, max_outline, level, ring, blobs) if max_outline else np.zeros(prob.shape, bool)
    if min_stripes:
        out |= striped_blobs(prob, large_box_frac, min_stripes, level=level, ring=ring, blobs=blobs)
        out |= banded_blobs(prob, min_stripes, level=level, ring=ring, blobs=blobs)
    if homogeneity(idx) >= min_homogeneity:
        out |= textured_blobs(prob, idx, large_box_frac, min_similarity, level, ring, blobs)
    return out


def _large_blobs(prob: np.ndarray, large_box_frac: float, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """The map's confident pixels (uint8), their blob labels and stats, and the blobs whose box
    covers at least `large_box_frac` of the map."""
    confident = (prob > level).astype(np.uint8)
    n, labels, stats, _ = components_with_stats(confident)
    large = [i for i in range(1, n) if stats[i, cv2.CC_STAT_WIDTH] * stats[i, cv2.CC_STAT_HEIGHT] >= large_box_frac * prob.size]
    return confident, labels, stats, large


def _rim_kernel(ring: int) -> np.ndarray:
    return np.ones((2 * ring + 1, 2 * ring + 1), np.uint8)


def _with_rims(labels: np.ndarray, ids: list[int], ring: int) -> np.ndarray:
    """The blobs `ids` of `labels`, each grown by `ring` pixels (their soft rims), as one bool mask."""
    out = np.zeros(labels.shape, bool)
    kernel = _rim_kernel(ring)
    for i in ids:
        out |= cv2.dilate((labels == i).view(np.uint8), kernel) > 0
    return out


def textured_blobs(
    prob: np.ndarray,
    idx: np.ndarray,
    large_box_frac: float = 0.12,
    min_similarity: float = 0.8,
    level: float = 0.5,
    ring: int = 7,
    blobs: tuple | None = None,
) -> np.ndarray:
    """On a frame already found homogeneous: its large confident blobs whose colours around them
    (beyond `ring` pixels) match their own, or that leave nothing around them (the flood covers the
    frame), with their soft rims (bool, map-sized). `blobs`: `_large_blobs` of `prob`, when made."""
    out = np.zeros(prob.shape, bool)
    _, labels, _, large = blobs or _large_blobs(prob, large_box_frac, level)
    kernel = _rim_kernel(ring)
    for i in large:
        blob = labels == i
        near = cv2.dilate(blob.view(np.uint8), kernel) > 0
        around = ~near
        if around.mean() >= 0.05 and intersection(histogram(idx, blob), histogram(idx, around)) < min_similarity:
            continue
        out |= near  # with its soft rim
    return out


def ragged_blobs(prob: np.ndarray, large_box_frac: float = 0.12, max_outline: float = 40.0, level: float = 0.5, ring: int = 7,
                 blobs: tuple | None = None) -> np.ndarray:
    """Large confident blobs whose outline is far too long for their area: the network following a
    pattern (stripes, checks), not a subject (bool, map-sized, with soft rims).

    Outline = boundary pixels / sqrt(area): a subject's, even hair or foliage, stays far under a
    striped fabric's flood (docs/engine.md). Needs no colour statistics, so it
    holds on fabrics whose shading makes the frame look inhomogeneous.
    """
    confident, labels, stats, large = blobs or _large_blobs(prob, large_box_frac, level)
    if not large:
        return np.zeros(prob.shape, bool)
    boundary = (confident > 0) & ~(cv2.erode(confident, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0)
    outline = np.bincount(labels[boundary], minlength=len(stats))
    return _with_rims(labels, [i for i in large if outline[i] > max_outline * np.sqrt(stats[i, cv2.CC_STAT_AREA])], ring)


def striped_blobs(prob: np.ndarray, large_box_frac: float = 0.12, min_count: int = 3, max_fill: float = 0.2,
                  level: float = 0.5, ring: int = 7, blobs: tuple | None = None) -> np.ndarray:
    """`min_count` or more large confident blobs that each fill under `max_fill` of their box: the
    network lighting up a fabric's stripes one band at a time, not subjects (bool, map-sized, with
    soft rims).

    Each diagonal stripe is a blob of its own, smooth-edged (so not ragged) and thin (2-3 % of the
    map in a box of ≈ 20 %). Several such blobs in one frame is a fabric, never a photo's subjects
    (docs/engine.md), and one thin large blob alone (a hoop, a bangle) is never taken.
    """
    _, labels, stats, large = blobs or _large_blobs(prob, large_box_frac, level)
    thin = [i for i in large if stats[i, cv2.CC_STAT_AREA] < max_fill * stats[i, cv2.CC_STAT_WIDTH] * stats[i, cv2.CC_STAT_HEIGHT]]
    return _with_rims(labels, thin if len(thin) >= min_count else [], ring)


def banded_blobs(prob: np.ndarray, min_count: int = 3, min_span: float = 0.9, max_width: float = 0.1, level: float = 0.5,
                 ring: int = 7, blobs: tuple | None = None) -> np.ndarray:
    """`min_count` or more confident blobs that each run across the map (a side at least `min_span`
    of the map's) and are thin for it (area under `max_width` x that side squared): the network
    lighting up a fabric's straight stripes, each a band of its own (bool, map-sized, with soft rims).

    Upright stripes are narrow boxes, under the "large" box of `striped_blobs`. A striped fabric
    gives many such bands, a photo's subject none (the values behind the defaults: docs/engine.md).
    """
    _, labels, stats, _ = blobs or _large_blobs(prob, 1.0, level)
    h, w = prob.shape
    bands = []
    for i in range(1, len(stats)):
        bw, bh, area = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT], stats[i, cv2.CC_STAT_AREA]
        span = max(bw / w, bh / h)  # across the frame, either way
        side = bw if bw / w >= bh / h else bh
        if span >= min_span and area < max_width * side * side:
            bands.append(i)
    return _with_rims(labels, bands if len(bands) >= min_count else [], ring)


def rare_colours(idx: np.ndarray, ratio: float = 0.02, open_px: int = 3, table: np.ndarray | None = None) -> np.ndarray:
    """Pixels whose colour the frame hardly has (bool): objects lying on a uniform texture.

    A pixel is rare when its bin holds under `ratio` times the share of the median pixel's bin
    (neighbouring chroma bins count half, so the texture's own colour noise is not rare). On wood
    and fabric most of an object's pixels are found this way, and few others (docs/engine.md).
    `table`: the rare_table of `idx` when already made (`ratio` is then its).
    """
    rare = (rare_table(idx, ratio) if table is None else table)[idx].view(np.uint8)
    if open_px > 1:
        rare = cv2.morphologyEx(rare, cv2.MORPH_OPEN, np.ones((open_px, open_px), np.uint8))
    return rare > 0


def rare_table(idx: np.ndarray, ratio: float = 0.02) -> np.ndarray:
    """Which colour bins are rare in the frame whose `idx` this is (bool per bin; see rare_colours):
    a lookup that other views of the same frame (a crop at full resolution) can be read through."""
    hist = histogram(idx).reshape(BINS)
    smooth = cv2.GaussianBlur(np.ascontiguousarray(hist.transpose(1, 2, 0)), (3, 3), 0).transpose(2, 0, 1)
    freq = np.maximum(hist, 0.5 * smooth).reshape(-1)
    return freq < ratio * float(np.median(freq[idx]))


def object_blobs(rare: np.ndarray, close_px: int = 5) -> np.ndarray:
    """Rare-colour pixels as whole-object blobs (bool): gaps closed, enclosed parts filled.

    A button's flat face shares a bin with nothing else but is common enough not to be rare, so
    only its rim is; one blob per object keeps one zoom per object (fragments zoomed on their
    own come back as crescents pasted over the good zoom).
    """
    blobs = cv2.morphologyEx(rare.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((close_px, close_px), np.uint8))
    contours, _ = cv2.findContours(blobs, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(blobs, contours, -1, 1, thickness=cv2.FILLED)
    return blobs > 0

"""Region-of-interest proposals: where in the frame to look again, closer.

Pure functions on numpy arrays. The network is good enough once it looks in the right place; the
hard part is proposing one tight box per object, finding faint ones, and rejecting texture noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .labelling import components, components_with_stats

# A blob whose box lies this much inside an already proposed one is that object again (seen at
# another threshold, or found by its colour as well as by the network).
DUPLICATE_SHARE = 0.8
# Crops are never smaller than this: below it the network sees too little context to tell an
# object from a speck.
MIN_CROP_SIDE = 48
# Crops overlapping by more than this share of the smaller one are zoomed as one (a pair of earrings).
MERGE_OVERLAP = 0.3
# zoom_score: pixels between these levels are "unsure"; a sure object has few of them for its size.
UNSURE_BAND = (0.15, 0.85)
# zoom_score: a zoom whose foreground fills up to FILL_FULL of the crop is compact; past it the score
# falls linearly (over FILL_RAMP) to 0 at FILL_NONE, since texture fills the whole crop.
FILL_FULL, FILL_NONE, FILL_RAMP = 0.6, 0.9, 0.3
# zoom_score: a zoom whose object misses the coarse blob it was made for has found something else.
STRANGER_FACTOR = 0.3
# Feathered pastes ramp over this share of the box's side: wide enough to hide the seam, narrow
# enough that the middle of the crop is the zoom's own.
FEATHER_RAMP = 0.12


@dataclass(frozen=True)
class Box:
    """Half-open pixel box [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def area(self) -> int:
        return max(0, self.w) * max(0, self.h)

    def intersection(self, other: "Box") -> int:
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0, w) * max(0, h)

    def union(self, other: "Box") -> "Box":
        return Box(min(self.x0, other.x0), min(self.y0, other.y0), max(self.x1, other.x1), max(self.y1, other.y1))

    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def as_list(self) -> list[int]:
        """[x, y, w, h], as status and the API give boxes."""
        return [self.x0, self.y0, self.w, self.h]


@dataclass(frozen=True)
class Candidate:
    """A connected blob of the detection map, in full-frame pixel coordinates."""

    box: Box  # tight box of the blob
    area_frac: float  # blob pixels / frame pixels
    peak: float  # max probability inside
    mean: float  # mean probability inside
    label: int = 0  # its id in the label image of find_candidates


def _frame_box(x: int, y: int, w: int, h: int, sx: float, sy: float) -> Box:
    """A map-pixel box (x, y, w, h) in frame pixels (scales sx, sy), grown to whole pixels."""
    return Box(int(np.floor(x * sx)), int(np.floor(y * sy)), int(np.ceil((x + w) * sx)), int(np.ceil((y + h) * sy)))


def find_candidates(
    prob: np.ndarray, frame: tuple[int, int], threshold: float = 0.15, min_pixels: int = 2
) -> tuple[list[Candidate], np.ndarray]:
    """Connected components of `prob > threshold`, boxes scaled from map to frame (w, h) coordinates.

    Also returns the label image (map-sized; 0 = none) so callers can tell blob pixels from crop pixels.
    """
    mh, mw = prob.shape
    fw, fh = frame
    sx, sy = fw / mw, fh / mh
    binary = (prob > threshold).astype(np.uint8)
    n, labels, stats, _ = components_with_stats(binary)
    out: list[Candidate] = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < min_pixels:
            continue
        region = prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i]
        box = _frame_box(x, y, w, h, sx, sy)
        out.append(Candidate(box=box, area_frac=float(area) / (mh * mw), peak=float(region.max()), mean=float(region.mean()), label=i))
    return out, labels


def propose(
    prob: np.ndarray,
    frame: tuple[int, int],
    thresholds: tuple[float, ...] = (0.15, 0.35, 0.6, 0.85),
    small_box_frac: float = 0.12,
    min_pixels: int = 2,
) -> tuple[list[Candidate], list[Candidate], np.ndarray]:
    """Small-object proposals at several thresholds, plus the large blobs, and one label image.

    A small object on a busy background merges into a flood of texture at a low threshold and
    separates at a higher one; a faint object only shows at the low one. Each blob is kept at the
    lowest threshold where its box is small enough (its fullest extent), and not again at higher
    thresholds inside that box. Returns (small, large, labels) where labels paints each small
    candidate's pixels with its own id and large blobs with theirs.
    """
    fw, fh = frame
    mh, mw = prob.shape
    labels = np.zeros(prob.shape, np.int32)
    small: list[Candidate] = []
    large: list[Candidate] = []
    next_id = 1
    for t_index, t in enumerate(thresholds):
        cands, lab = find_candidates(prob, frame, t, min_pixels)
        for c in cands:
            big = c.box.area / float(fw * fh) >= small_box_frac
            if big:
                if t_index == 0:
                    labels[(lab == c.label) & (labels == 0)] = next_id
                    large.append(Candidate(c.box, c.area_frac, c.peak, c.mean, next_id))
                    next_id += 1
                continue
            if any(c.box.intersection(k.box) >= DUPLICATE_SHARE * c.box.area for k in small):
                continue
            labels[lab == c.label] = next_id
            small.append(Candidate(c.box, c.area_frac, c.peak, c.mean, next_id))
            next_id += 1
    return small, large, labels


def add_absorbed(
    blobs: np.ndarray,
    support: np.ndarray,
    small: list[Candidate],
    large: list[Candidate],
    labels: np.ndarray,
    frame: tuple[int, int],
    small_box_frac: float = 0.12,
    max_support: float = 0.5,
    min_pixels: int = 2,
) -> list[Candidate]:
    """Blobs of `blobs` (a map-sized detection map, > 0 on them: rare colours) that a large blob
    swallowed where the network was unsure, as candidates of their own (`labels` painted in place);
    returns `small` with them.

    On wood or fabric u2netp can light the whole surface up softly (0.2-0.5): at the proposal
    threshold it is one blob as large as the frame, never zoomed, and a button lying on it, found by
    its colour, disappears into it. Only where `support` (the network's map at this size) stays under
    `max_support` on average: colours inside a confident subject are its own parts, not objects.
    """
    large_ids = {c.label for c in large}
    if not large_ids or not blobs.any():
        return small
    fw, fh = frame
    mh, mw = blobs.shape
    sx, sy = fw / mw, fh / mh
    n, lab, stats, _ = components_with_stats((blobs > 0).view(np.uint8))
    out = list(small)
    next_id = int(labels.max()) + 1
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        box = _frame_box(x, y, w, h, sx, sy)
        if area < min_pixels or box.area >= small_box_frac * fw * fh:
            continue
        sub = (slice(y, y + h), slice(x, x + w))
        own = lab[sub] == i
        if not np.isin(labels[sub][own], list(large_ids)).any() or float(support[sub][own].mean()) >= max_support:
            continue
        if any(box.intersection(k.box) >= DUPLICATE_SHARE * box.area for k in out):
            continue
        labels[sub][own] = next_id
        values = blobs[sub][own]
        out.append(Candidate(box, float(area) / (mh * mw), float(values.max()), float(values.mean()), next_id))
        next_id += 1
    return out


def expand_box(box: Box, frame: tuple[int, int], margin: float = 0.4, min_side: int = MIN_CROP_SIDE) -> Box:
    """A square crop around `box` with `margin` of its size on each side, shifted to stay in frame.

    Square because the network input is square: a stretched crop distorts thin parts.
    """
    fw, fh = frame
    side = int(round(max(box.w, box.h) * (1.0 + 2.0 * margin)))
    side = min(max(side, min_side), fw, fh) if min(fw, fh) >= min_side else min(fw, fh)
    cx, cy = (box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0
    x0 = int(round(cx - side / 2.0))
    y0 = int(round(cy - side / 2.0))
    x0 = min(max(0, x0), fw - side)
    y0 = min(max(0, y0), fh - side)
    return Box(x0, y0, x0 + side, y0 + side)


def merge_boxes(boxes: list[Box], overlap: float = MERGE_OVERLAP, max_ratio: float | None = None) -> list[Box]:
    """Union boxes that overlap by more than `overlap` of the smaller one, until none do.

    With `max_ratio`, boxes whose areas differ more than that are never merged: a tiny object's crop
    inside a large object's crop keeps its own zoom (merged, it is as small in the big crop as in
    the frame).
    """
    boxes = list(boxes)
    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                if max_ratio is not None and max(a.area, b.area) > max_ratio * min(a.area, b.area):
                    continue
                if a.intersection(b) > overlap * min(a.area, b.area):
                    boxes[i] = a.union(b)
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return boxes


def zoom_size(crop_side: int, sizes: tuple[int, ...] = (160, 224, 320)) -> int:
    """Network input side for a crop: the smallest listed size not below the crop, capped at the largest.

    A tiny crop upscaled to a larger input gains no detail, only cost (docs/engine.md).
    """
    for s in sizes:
        if crop_side <= s:
            return s
    return sizes[-1]


def zoom_score(zoom: np.ndarray, seed: np.ndarray | None = None) -> float:
    """How much a zoomed map looks like one real object: confident, compact, away from the crop edge.

    0 for empty or texture-like maps; near 1 for a crisp blob in the middle. `seed` (same shape, bool)
    is where the coarse pass saw the blob; a zoomed object that does not overlap it is someone else.
    """
    fg = zoom > 0.5
    n = int(fg.sum())
    if n == 0:
        return 0.0
    confidence = float(zoom[fg].mean())  # ~1 for a crisp object
    # uncertain band: pixels neither clearly in nor out, relative to the object's size
    unsure = float(((zoom > UNSURE_BAND[0]) & (zoom < UNSURE_BAND[1])).sum()) / n
    crispness = 1.0 / (1.0 + unsure)
    h, w = zoom.shape
    edge = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]])
    border = float(edge.mean())  # texture fills the crop and touches every edge
    fill = n / float(h * w)
    compact = (1.0 - border) * (1.0 if fill < FILL_FULL else max(0.0, (FILL_NONE - fill) / FILL_RAMP))
    score = confidence * crispness * compact
    if seed is not None and seed.any():
        score *= 1.0 if (fg & seed).any() else STRANGER_FACTOR
    return float(score)


def add_rare_parts(patch: np.ndarray, rare: np.ndarray, max_ratio: float = 2.0, level: float = 0.9) -> np.ndarray:
    """The zoom (at box size) with the rare-colour regions that touch its object added at `level`
    (a copy when any are).

    u2netp at a zoom can drop a flat part of an object (a bead hanging from an earring's hook) that
    the frame's colours single out. Only regions that touch the zoom's foreground join, and of them
    only the parts that stay inside the crop (none that runs on into the frame), at most `max_ratio`
    times the foreground in all.
    """
    fg = (patch > 0.5).view(np.uint8)
    n_fg = int(fg.sum())
    if n_fg == 0 or not rare.any():
        return patch
    parts = cv2.morphologyEx(rare.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, lab = components(parts)
    if n <= 1:
        return patch
    near = cv2.dilate(fg, np.ones((5, 5), np.uint8)) > 0
    touching = np.zeros(n, bool)
    touching[np.unique(lab[near])] = True
    touching[0] = False
    add = (touching[lab] & (fg == 0)).view(np.uint8)
    n, lab = components(add)
    runs_on = np.zeros(n, bool)
    runs_on[np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]))] = True
    add = (add > 0) & ~runs_on[lab]
    if not add.any() or int(add.sum()) > max_ratio * n_fg:
        return patch
    out = patch.copy()
    out[add] = np.maximum(out[add], level)
    return out


def feather(h: int, w: int, ramp: float = FEATHER_RAMP) -> np.ndarray:
    """Weight map 1 in the middle falling linearly to 0 at the border, for seamless pasting."""
    ry = max(1.0, h * ramp)
    rx = max(1.0, w * ramp)
    y = np.minimum(np.arange(h) + 0.5, h - np.arange(h) - 0.5) / ry
    x = np.minimum(np.arange(w) + 0.5, w - np.arange(w) - 0.5) / rx
    return np.clip(np.minimum.outer(y, x), 0.0, 1.0).astype(np.float32)


def paste(base: np.ndarray, patch: np.ndarray, box: Box, ramp: float = FEATHER_RAMP, mode: str = "feather", exclude: np.ndarray | None = None) -> None:
    """Fuse `patch` (already at box size) into `base` in place.

    feather: blend towards the patch in the middle of the box; max: keep the larger probability
    (the patch feathered too, so its border adds nothing). `exclude` (box-sized bool) marks pixels
    owned by other objects, which keep their values.
    """
    region = base[box.slices()]
    wgt = feather(box.h, box.w, ramp)
    if exclude is not None:
        wgt[exclude] = 0.0
    if mode == "max":
        np.maximum(region, wgt * patch, out=region)
        return
    region += wgt * (patch - region)


def crop_labels(labels: np.ndarray, box: Box, frame: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """The part of a (map-sized) label image under a frame-coordinate box, resized to `size` (w, h)."""
    lab_h, lab_w = labels.shape
    fw, fh = frame
    y0 = min(lab_h - 1, int(box.y0 * lab_h / fh))
    x0 = min(lab_w - 1, int(box.x0 * lab_w / fw))
    y1 = max(y0 + 1, int(np.ceil(box.y1 * lab_h / fh)))
    x1 = max(x0 + 1, int(np.ceil(box.x1 * lab_w / fw)))
    part = labels[y0:y1, x0:x1].astype(np.int32)
    # map cells do not align with frame pixels: sample each output pixel's cell
    ys = np.clip(((box.y0 + (np.arange(size[1]) + 0.5) * box.h / size[1]) * lab_h / fh).astype(int) - y0, 0, part.shape[0] - 1)
    xs = np.clip(((box.x0 + (np.arange(size[0]) + 0.5) * box.w / size[0]) * lab_w / fw).astype(int) - x0, 0, part.shape[1] - 1)
    return part[np.ix_(ys, xs)]

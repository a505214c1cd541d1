"""Post-processing as an ordered registry of named steps with one signature: `step(state) -> None`.

Each step reads and changes a `PostState`. The names are Settings.post_steps' (smallcut.settings
.PostStep); `EngineConfig.post_steps` chooses which run, the registry fixes their order. Phases:

- "frame": on the full-frame map, before any decision (the object-vs-backdrop step);
- "work": binary decisions (holes, smoothing, specks) on a working-size copy of the objects' region,
  merged back as changes so that soft edges elsewhere stay as they were;
- "detail": at full resolution on that region (small objects' holes, edges guided by the photo);
- "compose": when the output pixels are made (compose.compose's colour bleed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np

from . import holes, postprocess, roi, shadow, shadow_gate
from .config import EngineConfig
from .labelling import components_with_stats
from .resample import resize, shrink

# The region post-processing works on: everything above this probability, plus a margin of this
# share of the frame's long side (at least MIN_PAD px) for the backdrop the steps compare with.
REGION_LEVEL = 0.02
REGION_PAD, MIN_PAD = 0.02, 8
# A decision that adds foreground lifts the map to at least this (clearly in, still not hard 1).
ADDED_LEVEL = 0.9
# Objects under this many pixels at the working size are specks the work phase kept: no hole search.
FINE_MIN_WORK_PX = 16


@dataclass
class Region:
    """The objects' region: its full-resolution map and photo, and their working-size copies."""

    sub: tuple[slice, slice]  # where it lies in the frame
    p: np.ndarray  # full-resolution map (a view of the frame's map until changed)
    img: np.ndarray  # full-resolution photo
    scale: float  # working size / full size (<= 1)
    p_work: np.ndarray
    img_work: np.ndarray
    keep: np.ndarray  # working-size pixels inside accepted zooms: their small objects are not specks
    frame_area: float  # the frame's area at the working scale
    binary: np.ndarray | None = None  # the decisions' starting mask (uint8 0/255), made by the first "work" mask step
    mask: np.ndarray | None = None  # the decisions so far
    objects: np.ndarray | None = None  # rows of x, y, w, h, area in full-resolution region pixels
    work_px: np.ndarray | None = None  # each object's area at the working size


@dataclass
class PostState:
    cfg: EngineConfig
    rgb: np.ndarray  # the frame
    prob: np.ndarray  # the frame's probability map
    rois: list[roi.Box]  # crops whose zooms were accepted
    keep_shadow: bool = False
    layer: np.ndarray | None = None  # the kept shadow layer (full frame), with keep_shadow
    region: Region | None = None  # set for the "work" and "detail" phases

    def mask(self) -> np.ndarray:
        """The working-size decisions, starting from the map thresholded after the map steps."""
        r = self.region
        if r.mask is None:
            r.binary = r.mask = (r.p_work > 0.5).astype(np.uint8) * 255
        return r.mask


@dataclass(frozen=True)
class PostStep:
    name: str  # as in Settings.post_steps
    phase: str  # "frame", "work", "detail" or "compose"
    run: Callable[[PostState], None] | None = field(default=None, compare=False)  # None: done by compose


# ---------------------------------------------------------------------------------- the steps
def shadow_views(cfg: EngineConfig, rgb: np.ndarray, prob: np.ndarray, clf) -> Iterator[tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray, dict]]:
    """The object-vs-backdrop step's answer per region of the frame, before the region gate:
    (slices in the frame, working-size image, map before, map after, the classifier's maps)."""
    for sub, img, p in shadow.work_views(rgb, prob, cfg.shadow_side):
        after = p
        for _ in range(cfg.shadow_rounds):
            # each round's backdrop estimate includes what the last one gave back to the backdrop,
            # so the far part of a long shadow is compared with the shadow beside it
            p_obj, maps = shadow.object_probability(img, after, clf)
            after = after * shadow.gate(p_obj, *cfg.shadow_gate)
        if cfg.shadow_clear_below > 0:
            after = shadow.clear_doubted(p, after, cfg.shadow_clear_below)
        if cfg.shadow_holes_below < 1.0:
            # a large subject's interior is compared with a backdrop filled in from far away: holes
            # the step would punch into it are left to the hole step of post-processing
            ch, cw = prob[sub].shape
            frame_px = prob.size * (p.shape[0] / ch) * (p.shape[1] / cw)
            after = shadow.keep_large_interiors(p, after, cfg.shadow_holes_below * frame_px)
        yield sub, img, p, after, maps


def shadows(state: PostState) -> None:
    """Take away what the object-vs-backdrop classifier calls backdrop (shadows, reflections,
    backdrop in holes) from the network's map; with `keep_shadow`, also the shadow layer (full size).
    With `shadow_region_gate`, only in the regions where the region gate (shadow_gate.py) expects
    the step to help."""
    clf = shadow.load_classifier()
    if clf is None:
        return
    cfg, rgb, prob, keep = state.cfg, state.rgb, state.prob, state.keep_shadow
    region_gate = shadow_gate.load() if cfg.shadow_region_gate > 0 else None
    out = prob.copy()
    layer = np.zeros_like(prob) if keep else None
    for sub, img, p, after, maps in shadow_views(cfg, rgb, prob, clf):
        ch, cw = prob[sub].shape
        if region_gate is not None:
            x = shadow_gate.features(img, p, after, maps["back"], ch * cw / prob.size)
            if x is not None and not shadow_gate.step_helps(region_gate, x, cfg.shadow_region_gate):
                continue  # the network's map stays as it was here
        change = resize(after - p, (cw, ch))  # the view is never larger than its region: linear up
        change += prob[sub]  # in place: a region can be most of a 3-Mpx frame
        np.minimum(out[sub], change, out=change)
        out[sub] = np.clip(change, 0.0, 1.0, out=change)
        if keep:
            reach = cfg.shadow_reach * max(4.0, float(np.sqrt(max(1, int((after > 0.5).sum())))))
            small = shadow.shadow_layer(p, after, maps["lum_ratio"], reach)
            layer[sub] = np.maximum(layer[sub], resize(small, (cw, ch)))
    state.prob, state.layer = out, layer


def open_holes(state: PostState) -> None:
    """Background seen through holes (a ring's, a button's) opened in the working-size map: by the hand
    rule, and with `learned_holes` also by the hole classifier (holes.py)."""
    r = state.region
    before = r.p_work
    r.p_work = postprocess.open_background_holes(before, r.img_work, frame_area=r.frame_area)
    clf = holes.load_classifier() if state.cfg.learned_holes > 0 else None
    if clf is not None:
        # the classifier judges the same map as the rule: what either calls backdrop is opened
        learned = holes.open_learned_holes(before, r.img_work, clf, frame_area=r.frame_area, threshold=state.cfg.learned_holes)
        if learned is not before:
            r.p_work = np.minimum(r.p_work, learned)


def smooth(state: PostState) -> None:
    """Size-aware morphology: ragged outlines closed, thin parts of small objects kept."""
    state.region.mask = postprocess.smooth_objects(state.mask())


def specks(state: PostState) -> None:
    """Specks far smaller than the main objects dropped (unless an accepted zoom found them)."""
    mask = state.mask()
    state.region.mask = postprocess.remove_specks(mask, keep=state.region.keep & (mask > 0))


def fill_holes(state: PostState) -> None:
    """Small holes that are not backdrop-coloured filled."""
    state.region.mask = postprocess.fill_small_holes(state.mask(), state.region.img_work)


def fine_holes(state: PostState) -> None:
    """Background holes of small objects opened again at full resolution (1-3 px at the working size)."""
    cfg, r = state.cfg, state.region
    if cfg.fine_holes_below > 0 and r.scale < 1.0:
        postprocess.open_small_objects_holes(r.p, r.img, r.objects[r.work_px >= FINE_MIN_WORK_PX], state.prob.size,
                                             cfg.fine_holes_below)


def edges(state: PostState) -> None:
    """Soft edges from the photo (guided filter; a small radius at small objects' thin parts)."""
    r = state.region
    r.p = postprocess.refine_edges(r.img, r.p, small_radius=state.cfg.small_edge_radius, objects=r.objects)


REGISTRY: tuple[PostStep, ...] = (
    PostStep("shadows", "frame", shadows),
    PostStep("open-holes", "work", open_holes),
    PostStep("smooth", "work", smooth),
    PostStep("specks", "work", specks),
    PostStep("fill-holes", "work", fill_holes),
    PostStep("open-holes", "detail", fine_holes),
    PostStep("edges", "detail", edges),
    PostStep("bleed", "compose"),
)


def enabled(names: tuple[str, ...] | list[str], phase: str) -> list[PostStep]:
    """The registry's steps of `phase` that `names` turns on, in the registry's order."""
    return [s for s in REGISTRY if s.phase == phase and s.name in names]


# ---------------------------------------------------------------------------------- the phases
def run_frame_steps(state: PostState, names: tuple[str, ...]) -> None:
    for step in enabled(names, "frame"):
        step.run(state)


def postprocess_region(state: PostState, names: tuple[str, ...]) -> np.ndarray:
    """The "work" and "detail" phases on the objects' region; returns the frame's new map."""
    prob = state.prob
    if not (prob > 0.5).any():
        return prob
    state.region = region = _region(state)
    before = region.p_work
    for step in enabled(names, "work"):
        step.run(state)
    _merge_decisions(region, before)
    for step in enabled(names, "detail"):
        step.run(state)
    if region.p.shape == prob.shape:
        return region.p
    out = np.zeros_like(prob)
    out[region.sub] = region.p
    return out


def _region(state: PostState) -> Region:
    prob, rgb, cfg = state.prob, state.rgb, state.cfg
    bx, by, bw, bh = cv2.boundingRect((prob > REGION_LEVEL).view(np.uint8))  # far faster than np.nonzero
    h, w = prob.shape
    pad = max(MIN_PAD, int(REGION_PAD * max(h, w)))
    y0, y1 = max(0, by - pad), min(h, by + bh + pad)
    x0, x1 = max(0, bx - pad), min(w, bx + bw + pad)
    sub = (slice(y0, y1), slice(x0, x1))
    p, img = prob[sub], rgb[sub]
    ch, cw = p.shape
    scale = min(1.0, cfg.work_side / max(ch, cw))
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    p_work, img_work = shrink(p, size), shrink(img, size)
    keep = np.zeros(p_work.shape, bool)
    for box in state.rois:
        keep[
            max(0, int((box.y0 - y0) * scale)) : max(0, int(np.ceil((box.y1 - y0) * scale))),
            max(0, int((box.x0 - x0) * scale)) : max(0, int(np.ceil((box.x1 - x0) * scale))),
        ] = True
    return Region(sub, p, img, scale, p_work, img_work, keep, frame_area=h * w * scale * scale)


def _merge_decisions(r: Region, before: np.ndarray) -> None:
    """The working-size decisions onto the full-resolution map: binary decisions override the map,
    soft edges elsewhere stay as they were; then the objects, labelled once at the working size."""
    cleaned = _decided(r)
    if cleaned is not before:
        change = resize(cleaned - before, r.p.shape[::-1])
        change += r.p
        r.p = np.clip(change, 0.0, 1.0, out=change)
    # the objects, labelled once at the working size and scaled to the region's pixels
    stats = components_with_stats((cleaned > 0.5).view(np.uint8))[2][1:]
    scale = r.scale
    r.objects = np.column_stack([np.floor(stats[:, :2] / scale), np.ceil(stats[:, 2:4] / scale),
                                 stats[:, 4] / (scale * scale)]).astype(np.int64)
    r.work_px = stats[:, 4]


def _decided(r: Region) -> np.ndarray:
    """The working-size map with the mask decisions applied (the map itself when none changed it)."""
    p = r.p_work
    if r.binary is None:
        return p
    binary, cleaned = r.binary, r.mask
    added = (cleaned > 0) & (binary == 0)
    removed = (cleaned == 0) & (binary > 0)
    if not added.any() and not removed.any():
        return p
    p = p.copy()
    p[added] = np.maximum(p[added], ADDED_LEVEL)
    if removed.any():
        # fade the removed parts including their soft rims
        rm = cv2.dilate(removed.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        p[rm & (cleaned == 0)] = 0.0
    return p

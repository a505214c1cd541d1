"""Zooms and fusion: a closer pass on square crops around the small candidates, each judged, and
the accepted ones fused into the full-resolution probability map.

Crops are merged where they overlap (one pass for a pair of earrings), batched by input size, and
scored (confident, compact, consistent with the coarse blob) so texture noise is rejected. A merged
crop whose zoom saw little (objects far apart are small in the union's zoom) is split: each sure
member is zoomed again on its own, in a second round that only adds; so is a rejected crop that
may have cut through its object, twice as wide.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import roi, texture, zoom_judge
from .config import ZoomKnobs
from .net import SaliencyNet
from .resample import resize

# A member's own crop is zoomed alone only when it is well inside the union's crop (at most this
# share of its side): otherwise it was about as large in the union's zoom already.
ALONE_MAX_SIDE = 0.7
# A crop mostly inside an accepted one (this share of its area) was already judged by that zoom.
NESTED_SHARE = 0.9
# A nested crop shows a fragment of the larger zoom's object when that object's foreground runs
# across more than this share of the crop's border.
FRAGMENT_BORDER = 0.05
# A rejected blob is erased with its soft rim: its mask dilated by this kernel side.
RIM_KERNEL = 5
# A rejected crop is zoomed again wider only while the wider crop is at most this share of the
# frame's shorter side: beyond it the network sees about what the coarse pass saw.
WIDEN_MAX_SIDE = 0.25


@dataclass(frozen=True)
class ZoomRound:
    """One batch of zooms: the crops, the candidates they were made for and how to judge them."""

    crops: list[roi.Box]  # largest first: a small crop inside a large one is pasted last, over it
    candidates: list[roi.Candidate]
    labels: np.ndarray  # the detection map's label image
    tiled: bool  # the frame had the tiled detection pass (no large confident object)
    split: bool = False  # merged crops that came out faint or rejected return their sure members
    second: bool = False  # a second round: an accepted zoom only adds, a rejected one erases nothing accepted
    widened: tuple[roi.Box, ...] = ()  # crops of this round that widen a rejected one: rejected again, they erase nothing
    rare_table: np.ndarray | None = None  # the frame's rare colour bins: accepted zooms gain those parts


@dataclass
class ZoomOutcome:
    accepted: list[roi.Box] = field(default_factory=list)
    rejected: list[roi.Box] = field(default_factory=list)
    again: list[roi.Box] = field(default_factory=list)  # crops to zoom again, one sure member each
    wider: list[roi.Box] = field(default_factory=list)  # rejected crops to zoom again wider


def zoom_candidates(net: SaliencyNet, rgb: np.ndarray, prob: np.ndarray, candidates: list[roi.Candidate], labels: np.ndarray,
                    tiled: bool, rare_table: np.ndarray | None, cfg: ZoomKnobs, trace: list[dict] | None = None) -> ZoomOutcome:
    """Zoom on the most promising candidates and fuse what is accepted into `prob` (the full-frame
    map, changed in place: it is the fusion's target). `trace`: a list to record every zoom decision."""
    h, w = rgb.shape[:2]
    small = list(candidates)
    if not tiled:
        # a large confident object fills the frame's attention: faint blobs beside it were nearly
        # always rejected, at the cost of a zoom pass each
        small = [c for c in small if c.peak >= cfg.beside_large_min_peak]
    small.sort(key=likelihood, reverse=True)
    small = small[: cfg.max_rois]
    if not small:
        return ZoomOutcome()
    crops = roi.merge_boxes([roi.expand_box(c.box, (w, h), cfg.roi_margin) for c in small], max_ratio=cfg.merge_max_ratio)
    crops.sort(key=lambda b: b.area, reverse=True)  # a small crop inside a large one is pasted last, over it
    first = ZoomRound(crops, small, labels, tiled, split=cfg.split_merged, rare_table=rare_table)
    outcome = zoom_round(net, rgb, prob, first, [], cfg, trace)
    if outcome.again or outcome.wider:
        # merged crops whose zoom saw nothing or little (two objects far apart, each small in the
        # union's zoom): each sure member again on its own; and crops cut through their object, wider
        crops = sorted(outcome.again + outcome.wider, key=lambda b: b.area, reverse=True)
        second = ZoomRound(crops, small, labels, tiled, second=True, rare_table=rare_table, widened=tuple(outcome.wider))
        more = zoom_round(net, rgb, prob, second, outcome.accepted, cfg, trace)
        outcome = ZoomOutcome(outcome.accepted + more.accepted, outcome.rejected + more.rejected)
    return outcome


def zoom_round(net: SaliencyNet, rgb: np.ndarray, prob: np.ndarray, rnd: ZoomRound, accepted: list[roi.Box], cfg: ZoomKnobs,
               trace: list[dict] | None = None) -> ZoomOutcome:
    """Zoom, judge and fuse each crop of `rnd` (one batch) into `prob`; `accepted`: crops earlier
    rounds accepted (read only). Returns this round's accepted and rejected crops and, with
    `rnd.split`, the crops to zoom again one member each."""
    h, w = rgb.shape[:2]
    inputs = []
    for box in rnd.crops:
        side = roi.zoom_size(max(box.w, box.h), cfg.zoom_sizes)
        inputs.append(resize(rgb[box.slices()], (side, side)))
    zooms = net.predict(inputs)
    out = ZoomOutcome()
    rois = list(accepted)  # every crop accepted so far, this round's included
    wider: list[tuple[float, roi.Box]] = []  # rejected crops to widen, with their best candidate's rank
    judge = zoom_judge.load(str(zoom_judge.weights_for(net.spec.name))) if cfg.learned_zoom_accept else None
    for box, zoom, view in zip(rnd.crops, zooms, inputs):
        inside = [c for c in rnd.candidates if box.intersection(c.box) == c.box.area]
        members = [c.label for c in inside]
        zlab = roi.crop_labels(rnd.labels, box, (w, h), zoom.shape[::-1])
        seed = np.isin(zlab, members)
        score = roi.zoom_score(zoom, seed)
        patch = cv2.resize(zoom, (box.w, box.h), interpolation=cv2.INTER_LINEAR)
        blab = roi.crop_labels(rnd.labels, box, (w, h), (box.w, box.h))
        own = np.isin(blab, members)
        others = (blab > 0) & ~own  # a larger object reaching into the crop keeps its coarse map
        nested = any(box.intersection(b) >= NESTED_SHARE * box.area for b in rois)
        accept = score >= cfg.accept_score
        if judge is not None or trace is not None:
            row = zoom_judge.features(zoom, seed, view, score=score, peak=max((c.peak for c in inside), default=0.0),
                                      members=len(inside), side_frac=max(box.w, box.h) / max(w, h),
                                      detection=rnd.tiled, second=rnd.second, nested=nested)
            if judge is not None:
                accept = float(judge.predict(row[None])[0]) >= cfg.zoom_accept_p
            if trace is not None:
                trace.append({"box": box, "features": row, "patch": patch > 0.5, "accepted": accept})
        if accept:
            if rnd.rare_table is not None:
                # parts the zoom left out in colours the frame hardly has (a bead on a hook)
                patch = roi.add_rare_parts(patch, rnd.rare_table[texture.smoothed_colour_index(rgb[box.slices()])] & ~others)
            # the second round adds: a member's crop may hold others that earlier zooms drew
            fuse_accepted(prob, patch, box, others, adds_only=rnd.second or (nested and is_fragment(prob, box)))
            rois.append(box)
            out.accepted.append(box)
            if rnd.split and len(inside) > 1 and score < cfg.split_below:
                # accepted, but barely: objects far apart come out faint in the union's zoom
                out.again += list(alone(inside, box, (w, h), rnd.crops, cfg).values())
        elif nested:
            out.rejected.append(box)  # the accepted larger zoom already judged these pixels
        else:
            if box in rnd.widened:
                out.rejected.append(box)  # its blob went with the narrower crop; nothing more to erase
                continue
            if not rnd.second and cfg.widen_rejected > 0 and max((c.peak for c in inside), default=0.0) >= cfg.widen_min_peak:
                # a blob that is only part of an object (a ring's lit arc) gives a crop cut through
                # it, in which the network sees no object: seen again with more around it
                wide = roi.expand_box(box, (w, h), (cfg.widen_rejected - 1.0) / 2.0)
                if wide.w <= WIDEN_MAX_SIDE * min(w, h) and wide not in rnd.crops:
                    wider.append((max(likelihood(c) for c in inside), wide))
            if rnd.split and len(inside) > 1:
                apart = alone(inside, box, (w, h), rnd.crops, cfg)
                out.again += list(apart.values())
                # a sure member nearly as large as the union gets no zoom of its own: the union's
                # zoom judged the texture around it, not it, so its coarse map stands; unless the
                # frame's edge cuts it (a stripe or a flood running off the frame, not a product)
                kept = {c.label for c in inside if cfg.keep_sure_members and c.peak >= cfg.beside_large_min_peak
                        and not _cut_by_frame(c.box, (w, h))}
                own = np.isin(blab, [c.label for c in inside if c.label not in apart and c.label not in kept])
            if rnd.second:  # what earlier zooms accepted stays
                for b in rois:
                    others[max(0, b.y0 - box.y0) : max(0, b.y1 - box.y0), max(0, b.x0 - box.x0) : max(0, b.x1 - box.x0)] = True
            erase_rejected(prob, box, own, others)
            out.rejected.append(box)
    out.again.sort(key=lambda b: b.area, reverse=True)
    # most are rare-colour specks of a busy surface, each a zoom: only the likeliest objects' crops
    out.wider = [b for _, b in sorted(wider, key=lambda t: t[0], reverse=True)[: cfg.widen_max]]
    return out


def likelihood(c: roi.Candidate) -> float:
    """How likely a candidate is a real object, to choose which get a zoom (or a wider one):
    its detection peak, weighted by its size."""
    return float(c.peak * np.sqrt(c.area_frac))


def _cut_by_frame(box: roi.Box, frame: tuple[int, int]) -> bool:
    return box.x0 <= 0 or box.y0 <= 0 or box.x1 >= frame[0] or box.y1 >= frame[1]


def fuse_accepted(prob: np.ndarray, patch: np.ndarray, box: roi.Box, others: np.ndarray, adds_only: bool) -> None:
    """An accepted zoom (at box size) into the frame's map: blended in (feathered towards the box's
    border), or with `adds_only` kept only where larger. `others` (pixels of other objects) keep
    their values."""
    roi.paste(prob, patch, box, mode="max" if adds_only else "feather", exclude=others)


def erase_rejected(prob: np.ndarray, box: roi.Box, own: np.ndarray, others: np.ndarray) -> None:
    """A rejected zoom's blob was texture or nothing: drop the blob itself (with its soft rim), nothing else."""
    rim = cv2.dilate(own.astype(np.uint8), np.ones((RIM_KERNEL, RIM_KERNEL), np.uint8)) > 0
    prob[box.slices()][rim & ~others] = 0.0


def alone(inside: list[roi.Candidate], box: roi.Box, frame: tuple[int, int], zoomed: list[roi.Box],
          cfg: ZoomKnobs) -> dict[int, roi.Box]:
    """The sure members (peak >= beside_large_min_peak) of a merged crop whose own crop is well
    inside the union (small in the union's zoom) and not among the crops already `zoomed`, by
    label, with their own crops."""
    own = {c.label: roi.expand_box(c.box, frame, cfg.roi_margin) for c in inside if c.peak >= cfg.beside_large_min_peak}
    return {k: b for k, b in own.items() if max(b.w, b.h) <= ALONE_MAX_SIDE * max(box.w, box.h) and b not in zoomed}


def is_fragment(prob: np.ndarray, box: roi.Box, min_border: float = FRAGMENT_BORDER) -> bool:
    """Does this crop, inside an accepted larger zoom, show only part of that zoom's object?

    Then its zoom may add but not overwrite: a piece of a button's rim zoomed alone comes back
    as a crescent. A separate small object inside the larger crop keeps its own zoom, which
    draws it finer than the larger one did. Told apart by whether the foreground the larger
    zoom left in this crop runs across the crop's border.
    """
    fg = prob[box.slices()] > 0.5
    edge = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]])
    return bool(edge.mean() > min_border)

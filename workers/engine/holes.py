"""A learned decision on background holes: for each candidate region inside an object's silhouette,
the probability that it is backdrop seen through the object (a ring's, a hoop's, a button's hole).

The hand rule (postprocess.open_background_holes) opens a region when its colours match the
backdrop by fixed thresholds. Here the same comparisons, and more (colour distance to the backdrop
and to the object's own rim, texture match, the region's size and depth in the object, how enclosed
it is, the network's values there), are region features, and a small classifier trained on the
tuning family (training/hole_classifier.py) decides. Candidates are over-generated at several loose
levels (each a set of connected regions of the object's interior) and judged one by one; the union
of those called backdrop is opened.

Pure functions: numpy in, numpy out. The weights are a JSON file shipped with the package.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from . import postprocess, texture
from .labelling import components_with_stats
from .mlp import Classifier
from .postprocess import TEXTURE_BINS, _lab_distance, fill_holes

WEIGHTS = Path(__file__).with_name("data") / "hole_classifier.json"
FEATURES = (
    "area_frac", "log_area", "object_frac", "d_bg", "d_bg_rel", "d_rim", "d_rim_minus_bg", "share", "share_min",
    "p_mean", "p_min", "p_max", "depth_mean", "depth_min", "enclosed", "bg_spread", "tex_ratio", "dl_bg", "dab_bg",
    "level_share", "level_colour", "level_unsure",
)
MIN_OBJECT_PX = 64
MIN_REGION_PX = 4
MAX_OPENED = 0.4  # an object that would lose more than this share of its foreground keeps it all
# candidate levels: texture share over this, colour distance under this times the rule's, map under this
SHARE_LEVEL, COLOUR_LEVEL, UNSURE_LEVEL = 0.5, 1.5, 0.8


@functools.lru_cache(maxsize=2)
def load_classifier(path: str | None = None) -> Classifier | None:
    """The shipped hole classifier, or None when the package has none (then nothing is opened)."""
    p = Path(path) if path else WEIGHTS
    return Classifier.from_json(p.read_text(), FEATURES) if p.exists() else None


def _object_regions(prob: np.ndarray, frame_area: float | None, max_object_frac: float):
    """(label map of the filled silhouettes, their stats, the labels to judge)."""
    mask = (prob > 0.5).astype(np.uint8)
    silhouette = fill_holes(mask)
    n, comp, stats, _ = components_with_stats(silhouette)
    areas = stats[1:, cv2.CC_STAT_AREA]
    todo = areas >= MIN_OBJECT_PX
    if frame_area is not None:
        todo &= areas <= max_object_frac * frame_area
    return comp, stats, 1 + np.nonzero(todo)[0]


def region_features(prob: np.ndarray, rgb: np.ndarray, frame_area: float | None = None, max_object_frac: float = 0.05):
    """Candidate hole regions and their features.

    `prob` float32 HxW 0..1, `rgb` uint8 HxWx3. Returns (features N x F, a list of N regions: (slices,
    bool mask within the slices, the object's label, the object's foreground pixels in its crop)). Regions of one object may overlap (several candidate levels).
    """
    if not (prob > 0.5).any():
        return np.zeros((0, len(FEATURES)), np.float32), []
    comp, stats, todo = _object_regions(prob, frame_area, max_object_frac)
    fa = float(frame_area or prob.size)
    rows, regions = [], []
    n_bins = TEXTURE_BINS[0] * TEXTURE_BINS[1] * TEXTURE_BINS[2]
    for i in todo:
        o = postprocess.object_bands(comp, stats, i, rgb)
        if o is None or not o.inner.any() or not o.rim.any():
            continue
        sub, lab8, inner, rim, bg_ref, bg_spread, area, diam, depth = (o.sub, o.lab, o.inner, o.rim, o.bg_ref, o.bg_spread,
                                                                         o.area, o.diam, o.depth)
        lab = lab8.astype(np.float32)
        rim_ref = np.median(lab[rim], axis=0)
        d_bg = _lab_distance(lab, bg_ref)
        d_rim = _lab_distance(lab, rim_ref)
        idx = texture.lab_bins(lab8, TEXTURE_BINS)
        h_bg = texture.histogram(idx, o.outer, n_bins)
        h_obj = texture.histogram(idx, rim, n_bins)
        share = cv2.medianBlur((h_bg / np.maximum(h_bg + h_obj, 1e-9))[idx].astype(np.float32), 5)
        p = prob[sub]
        grey = lab[..., 0]
        bg_tex = float(np.std(grey[o.outer])) + 1.0
        thresh = max(10.0, 3.0 * bg_spread)
        fg = (p > 0.5).view(np.uint8)
        for level, cand in enumerate((inner & (share >= SHARE_LEVEL), inner & (d_bg < COLOUR_LEVEL * thresh),
                                      inner & (p < UNSURE_LEVEL))):
            k, lab_r, rs, _ = components_with_stats(cand.view(np.uint8))
            for j in range(1, k):
                rx, ry, rw, rh, ra = rs[j]
                if ra < MIN_REGION_PX:
                    continue
                box = (slice(max(0, ry - 2), min(cand.shape[0], ry + rh + 2)), slice(max(0, rx - 2), min(cand.shape[1], rx + rw + 2)))
                reg = lab_r[box] == j
                ring_px = (cv2.dilate(reg.view(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~reg
                enclosed = float(fg[box][ring_px].mean()) if ring_px.any() else 0.0
                pr, dr = p[box][reg], depth[box][reg]
                if pr.max() <= 0.5:
                    continue  # already open: nothing to decide
                dbg, drim, sh = d_bg[box][reg], d_rim[box][reg], share[box][reg]
                lr = lab[box][reg]
                mean_lab = lr.mean(axis=0)
                rows.append((
                    ra / area, np.log(ra), np.log(area / fa), dbg.mean() / 100.0, dbg.mean() / thresh, drim.mean() / 100.0,
                    (drim.mean() - dbg.mean()) / 100.0, sh.mean(), sh.min(), pr.mean(), pr.min(), pr.max(),
                    dr.mean() / diam, dr.min() / diam, enclosed, np.log1p(bg_spread), np.log((float(lr[:, 0].std()) + 1.0) / bg_tex),
                    (mean_lab[0] - bg_ref[0]) / 100.0, float(np.hypot(*(mean_lab[1:] - bg_ref[1:]))) / 100.0,
                    level == 0, level == 1, level == 2,
                ))
                regions.append(((slice(sub[0].start + box[0].start, sub[0].start + box[0].stop),
                                 slice(sub[1].start + box[1].start, sub[1].start + box[1].stop)), reg, int(i), int((p > 0.5).sum())))
    if not rows:
        return np.zeros((0, len(FEATURES)), np.float32), []
    return np.asarray(rows, np.float32), regions


def open_learned_holes(prob: np.ndarray, rgb: np.ndarray, clf: Classifier, frame_area: float | None = None,
                       max_object_frac: float = 0.05, threshold: float = 0.5) -> np.ndarray:
    """`prob` with the candidate regions the classifier calls backdrop set to 0 (a new array when any)."""
    x, regions = region_features(prob, rgb, frame_area, max_object_frac)
    if not len(x):
        return prob
    p_hole = clf.predict(x)
    opened: dict[int, np.ndarray] = {}
    for (box, reg, obj, _), ph in zip(regions, p_hole):
        if ph > threshold:
            m = opened.setdefault(obj, np.zeros(prob.shape, bool))
            m[box] |= reg
    out = prob
    shown = {obj: n for _, _, obj, n in regions}
    for obj, m in opened.items():
        if np.count_nonzero(m & (prob > 0.5)) > MAX_OPENED * shown[obj]:
            continue  # most of an object is not a hole: the regions are the object's own
        if out is prob:
            out = prob.copy()
        out[m] = 0.0
    return out

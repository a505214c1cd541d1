"""The learned half of the cascade's gate: does a frame with one large confident object still hide
small ones?

The hand-set gate (detect.needs_detection) skips the detection pass when a confident blob's box
covers `gate_box_frac` of the frame: right for a photo of one subject, wrong for a catalog shot of
a bag beside a ring. Which of the two a frame is shows in the coarse map and the frame's colours: a
catalog backdrop is a few colours with calm borders, faint blobs beside the big one; a photo's scene
is many colours up to its edges, its subject often cut by them. A logistic model on a dozen such
numbers (training/detect_gate.py: the label is whether the detection pass raised the frame's score)
decides; the hand-set gate still decides every frame without a large blob.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from . import texture
from .labelling import components, components_with_stats
from .mlp import Classifier

FEATURES = (
    "box_frac",  # the largest confident blob's box, share of the map
    "conf_frac",  # confident share of the map
    "big_fill",  # that blob's area over its box
    "big_conf",  # the map's mean inside it
    "big_edges",  # frame sides its box touches (a photo's subject is often cut by them)
    "n_blobs",  # log(1 + confident blobs of 4 px or more)
    "out_peak",  # the map's peak outside the big blob's box
    "out_faint",  # share of the rest of the map above 0.1
    "out_blobs",  # log(1 + blobs above 0.1 outside the big blob's box)
    "top_colours",  # share of the frame in its 4 commonest colour bins (a backdrop is few colours)
    "border_std",  # Lab spread along the frame's border (a sweep or paper is calm there)
    "out_std",  # Lab spread outside the big blob's box
)

WEIGHTS = Path(__file__).parent / "data" / "detect_gate.json"


def features(coarse: np.ndarray, view: np.ndarray) -> np.ndarray | None:
    """The gate's numbers for a coarse map and the frame at the map's size (RGB uint8), or None when
    the map has no confident blob (the hand-set gate already looks harder there)."""
    confident = (coarse > 0.5).view(np.uint8)
    n, labels, stats, _ = components_with_stats(confident)
    if n < 2:
        return None
    h, w = coarse.shape
    box = stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT]
    big = 1 + int(np.argmax(box))
    x, y, bw, bh, area = (int(v) for v in stats[big])
    inside = np.zeros((h, w), bool)
    inside[y : y + bh, x : x + bw] = True
    rest = ~inside
    faint = (coarse > 0.1) & rest
    k = components(faint.view(np.uint8))[0] - 1
    lab = cv2.cvtColor(view, cv2.COLOR_RGB2LAB)
    share = np.sort(np.bincount(texture.lab_bins(lab).ravel()))[::-1]
    edge = np.zeros((h, w), np.uint8)
    edge[:4], edge[-4:], edge[:, :4], edge[:, -4:] = 1, 1, 1, 1
    border_std = float(cv2.meanStdDev(lab, mask=edge)[1].mean())
    out_std = float(cv2.meanStdDev(lab, mask=rest.view(np.uint8))[1].mean()) if rest.any() else border_std
    return np.array([
        box[big - 1] / coarse.size,
        confident.mean(),
        area / max(1, bw * bh),
        float(cv2.mean(coarse, mask=(labels == big).view(np.uint8))[0]),
        (x == 0) + (y == 0) + (x + bw >= w) + (y + bh >= h),
        np.log1p(np.count_nonzero(stats[1:, cv2.CC_STAT_AREA] >= 4)),
        float(cv2.minMaxLoc(coarse, mask=rest.view(np.uint8))[1]) if rest.any() else 0.0,
        float(faint.sum()) / max(1, int(rest.sum())),
        np.log1p(k),
        share[:4].sum() / share.sum(),
        border_std,
        out_std,
    ], np.float32)


@functools.lru_cache(maxsize=2)
def load(path: Path = WEIGHTS) -> Classifier:
    return Classifier.from_json(path.read_text(), FEATURES)


def wants_detection(coarse: np.ndarray, view: np.ndarray, level: float, path: Path = WEIGHTS) -> bool:
    """Whether the detection pass should run on a frame the hand-set gate would skip."""
    x = features(coarse, view)
    if x is None:
        return True
    return bool(load(path).predict(x[None])[0] > level)

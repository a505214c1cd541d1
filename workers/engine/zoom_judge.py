"""Is a zoomed crop's foreground a real object? A learned answer for the zoom's accept/reject decision.

The zoomed pass sees texture (brick joints, gravel, a fabric's print) as confidently as a ring. The
hand-made `roi.zoom_score` (confident x crisp x compact) was tuned on one generator's surfaces; this
classifier looks at the same zoom with a few more facts about it: how the object's colours differ
from the crop's backdrop, how busy that backdrop is, how sure the coarse pass was, how large the crop
is in the frame. It is trained on the tuning family's zooms, labelled by the ground truth
(training/zoom_judge.py), and shipped as JSON; without the file the engine keeps `zoom_score`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from .mlp import Classifier

WEIGHTS = Path(__file__).with_name("data") / "zoom_judge.json"
FEATURES = (
    "score", "confidence", "unsure", "border", "fill", "seed_overlap", "peak", "members", "log_side_frac",
    "colour_contrast", "backdrop_busy", "object_busy", "detection", "second", "nested",
)


def own_weights(model: str) -> Path:
    """Where the judge trained on `model`'s zooms lives: `zoom_judge.json` for the stock u2netp,
    `zoom_judge.<model>.json` beside it for another network (its zooms look different: confidence,
    fill, border)."""
    return WEIGHTS if model == "u2netp" else WEIGHTS.with_name(f"zoom_judge.{model}.json")


def weights_for(model: str) -> Path:
    """The judge `model`'s zooms run under: its own when one was trained, else the stock network's."""
    own = own_weights(model)
    return own if own.exists() else WEIGHTS


@functools.lru_cache(maxsize=4)
def load(path: str | None = None) -> Classifier | None:
    p = Path(path) if path else WEIGHTS
    return Classifier.from_json(p.read_text(), FEATURES) if p.exists() else None


def features(zoom: np.ndarray, seed: np.ndarray, crop: np.ndarray, *, score: float, peak: float, members: int,
             side_frac: float, detection: bool, second: bool, nested: bool) -> np.ndarray:
    """One row of FEATURES for a zoom (its map at the network's size), the coarse seed there (bool)
    and the crop's pixels (uint8 RGB, any size: resized to the zoom's)."""
    fg = zoom > 0.5
    n = int(fg.sum())
    h, w = zoom.shape
    img = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) if crop.shape[:2] != (h, w) else crop.astype(np.float32)
    lab = cv2.cvtColor(img / 255.0, cv2.COLOR_RGB2Lab)
    grey = lab[..., 0]
    busy = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    back = zoom < 0.15
    if n and back.any():
        contrast = float(np.linalg.norm(lab[fg].mean(axis=0) - lab[back].mean(axis=0))) / 100.0
        backdrop_busy, object_busy = float(busy[back].mean()) / 10.0, float(busy[fg].mean()) / 10.0
    else:
        contrast, backdrop_busy, object_busy = 0.0, float(busy.mean()) / 10.0, float(busy.mean()) / 10.0
    edge = np.concatenate([fg[0], fg[-1], fg[:, 0], fg[:, -1]])
    return np.float32([
        score,
        float(zoom[fg].mean()) if n else 0.0,
        float(((zoom > 0.15) & (zoom < 0.85)).sum()) / max(n, 1),
        float(edge.mean()),
        n / float(h * w),
        float((fg & seed).sum()) / max(n, 1) if seed.any() else 0.0,
        peak, float(members), float(np.log(max(side_frac, 1e-4))),
        contrast, backdrop_busy, object_busy, float(detection), float(second), float(nested),
    ])

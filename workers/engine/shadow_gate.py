"""Does the object-vs-backdrop step help in this region, or is it eating a real subject? A learned answer.

The step (shadow.py) judges each pixel against the backdrop filled in around it. On a catalog shot
that backdrop is a calm sweep, paper or fabric and what the step takes is a shadow, a reflection or
the backdrop in a ring's hole. In a photograph the "backdrop" is a scene and the subject often runs
out of the frame: the step then takes a dolphin's belly or a wolf's flank. Single per-region cues
do not tell those apart on both kinds of frames (docs/benchmarks.md, "The outline cue, measured"),
so a logistic model over a dozen numbers of the whole region (what the step took, the backdrop it
compared with, how the region sits in the frame), trained by training/shadow_gate.py on whether the
step raised the region's IoU, decides per region whether the step's answer is used.

Pure functions: numpy in, numpy out. The weights are a JSON file shipped with the package.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from .mlp import Classifier
from .shadow import luminance

WEIGHTS = Path(__file__).with_name("data") / "shadow_gate.json"
FEATURES = (
    "taken_of_lit",  # share of the network's foreground the step took
    "taken_of_view",  # the taken area, share of the region
    "lit_of_view",  # the network's foreground, share of the region
    "taken_dark",  # median log luminance ratio to the backdrop estimate over what was taken (a shadow: < 0)
    "taken_dark_spread",  # its spread (a shadow darkens evenly, a subject has its own shading)
    "taken_chroma",  # median chromaticity change against the backdrop over what was taken (a shadow keeps the hue)
    "taken_open_rim",  # share of the taken area's rim on the backdrop rather than on what stays (0: enclosed)
    "taken_p",  # mean network value over what was taken
    "back_std",  # spread of the log luminance over the sure backdrop (a sweep is calm, a scene is not)
    "back_grad",  # mean log-luminance gradient over the sure backdrop (texture)
    "lit_border",  # share of the region's border the network lights (a photo's subject runs out of the frame)
    "view_of_frame",  # the region's share of the frame
)


@functools.lru_cache(maxsize=2)
def load(path: str | None = None) -> Classifier | None:
    """The shipped gate, or None when the package has none (then the step's answer is always used)."""
    p = Path(path) if path else WEIGHTS
    return Classifier.from_json(p.read_text(), FEATURES) if p.exists() else None


def _log_lum(img: np.ndarray) -> np.ndarray:
    return np.log(luminance(img) + 4.0)


def features(img: np.ndarray, before: np.ndarray, after: np.ndarray, back: np.ndarray, frame_share: float) -> np.ndarray | None:
    """The gate's numbers for one region at the step's working size, or None when the step took
    nothing there (nothing to decide).

    `img` float32 RGB 0..255, `before`/`after` the map before and after the step, `back` the step's
    backdrop estimate (float32 RGB), `frame_share` the region's share of the frame."""
    lit = before > 0.5
    taken = lit & ~(after > 0.5)
    n_taken = int(np.count_nonzero(taken))
    if n_taken == 0:
        return None
    n_lit = int(np.count_nonzero(lit))
    size = float(before.size)
    ll, ll_back = _log_lum(img), _log_lum(back)
    ratio = (ll - ll_back)[taken]
    q25, q50, q75 = np.percentile(ratio, (25, 50, 75))
    ik, bk = img[taken], back[taken]
    chroma = np.abs(ik / (ik.sum(axis=1, keepdims=True) + 12.0) - bk / (bk.sum(axis=1, keepdims=True) + 12.0)).sum(axis=1)
    t8 = taken.view(np.uint8)
    rim = (cv2.dilate(t8, np.ones((3, 3), np.uint8)) > 0) & ~taken
    n_rim = int(np.count_nonzero(rim))
    open_rim = float(np.count_nonzero(rim & ~(after > 0.5))) / n_rim if n_rim else 1.0
    sure = before < 0.05
    if np.count_nonzero(sure) >= 16:
        back_std = float(ll[sure].std())
        gx, gy = cv2.Sobel(ll, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(ll, cv2.CV_32F, 0, 1, ksize=3)
        back_grad = float(np.hypot(gx, gy)[sure].mean())
    else:
        back_std = back_grad = 0.0
    border = np.concatenate([lit[0], lit[-1], lit[:, 0], lit[:, -1]])
    return np.float32([
        n_taken / max(n_lit, 1), n_taken / size, n_lit / size, q50, q75 - q25, float(np.median(chroma)), open_rim,
        float(before[taken].mean()), back_std, back_grad, float(border.mean()), frame_share,
    ])


def step_helps(clf: Classifier, x: np.ndarray, level: float) -> bool:
    """Use the step's answer in the region whose numbers are `x` (features()) when the gate's
    probability that it raises the region's IoU is over `level`."""
    return float(clf.predict(x[None])[0]) > level

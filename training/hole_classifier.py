"""Train the engine's background-hole region classifier (workers/engine/holes.py) on the tuning family.

    python -m training.hole_classifier [--frames 240] [--out workers/engine/data/hole_classifier.json]

Data: catalog-tune frames 0-239 (bench.tune; frames 240-299 are its check, never read here). Each
frame goes through the engine with its default settings up to the working-size hole step (the map
both the hand rule, postprocess.open_background_holes, and the classifier judge), and that state (working-size map and photo,
and the ground truth brought to the same size) is cached under bench/out/cache/. Every candidate
region of holes.region_features is labelled from the ground truth: backdrop when most of its pixels
the map shows as foreground have alpha < 0.5. A small MLP (scikit-learn, only needed here) is fitted
with each region weighted by the square root of those pixels, on a frame-level split, and written as
JSON the engine reads with numpy alone. The judge family is never read here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / "out" / "cache" / "hole-step"


def _capture(engine, rgb: np.ndarray) -> list[dict]:
    """The engine's working-size regions as the hole step gets them (the hand rule and the classifier
    both judge this map; the step opens what either calls backdrop)."""
    from workers.engine import steps

    seen = []

    def record(state):
        r = state.region
        seen.append({"p": r.p_work.copy(), "img": r.img_work.copy(), "frame_area": r.frame_area,
                     "sub": (r.sub[0].start, r.sub[0].stop, r.sub[1].start, r.sub[1].stop)})
        steps.open_holes(state)

    saved = steps.REGISTRY
    steps.REGISTRY = tuple(steps.PostStep(s.name, s.phase, record) if (s.phase, s.name) == ("work", "open-holes") else s
                           for s in saved)
    try:
        engine.matte(rgb)
    finally:
        steps.REGISTRY = saved
    return seen


def frame_state(engine, index: int, d: Path, version: int) -> dict | None:
    """One tune frame's working-size state and ground truth (cached per model and draw)."""
    path = CACHE / engine.model_id.replace(":", "_") / f"v{version}" / f"tune-{index:04d}.npz"
    if path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files} if z["p"].size else None
    name = f"tune-{index:04d}"
    rgb = cv2.cvtColor(cv2.imread(str(d / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
    alpha = cv2.imread(str(d / f"{name}.alpha.png"), cv2.IMREAD_GRAYSCALE)
    seen = _capture(engine, rgb)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not seen:
        np.savez_compressed(path, p=np.zeros(0, np.float16))
        return None
    s = seen[0]
    y0, y1, x0, x1 = s["sub"]
    size = s["p"].shape[::-1]
    gt = cv2.resize(alpha[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    out = {"p": s["p"].astype(np.float16), "img": s["img"], "gt": gt, "frame_area": np.float64(s["frame_area"])}
    np.savez_compressed(path, **out)
    return out


def collect(engine, n: int, log=print):
    from bench.tune.build import VERSION, build_set
    from workers.engine import holes

    d = build_set(n=300)
    xs, stakes, groups = [], [], []
    t0 = time.perf_counter()
    for k in range(n):
        st = frame_state(engine, k, d, VERSION)
        if st is None:
            continue
        x, regions = holes.region_features(st["p"].astype(np.float32), st["img"], float(st["frame_area"]))
        if len(x):
            gt, p = st["gt"], st["p"]
            # the foreground pixels opening each region would give to the backdrop: rightly (the ground
            # truth's backdrop: gained) or wrongly (the object's: lost)
            shown = [(p[box][reg] > 0.5, gt[box][reg] < 128) for box, reg, _, _ in regions]
            stake = np.array([((s & b).sum(), (s & ~b).sum()) for s, b in shown])
            xs.append(x), stakes.append(stake), groups.append(np.full(len(x), k))
        if (k + 1) % 20 == 0:
            log(f"  {k + 1} frames, {sum(len(a) for a in xs)} regions, {time.perf_counter() - t0:.0f}s")
    return np.concatenate(xs), np.concatenate(stakes), np.concatenate(groups)


def fit(x, stake, groups, hidden=(8,), seed=0, log=print):
    """A region is backdrop when opening it gains more pixels than it loses; each region weighs the
    square root of the pixels at stake (a large hole counts more than a speck, not a thousand times more)."""
    from sklearn.neural_network import MLPClassifier

    from workers.engine.holes import FEATURES
    from workers.engine.mlp import Classifier

    gain, loss = stake[:, 0].astype(np.float64), stake[:, 1].astype(np.float64)
    y = gain > loss
    w = np.sqrt(gain + loss) + 0.5
    rng = np.random.default_rng(seed)
    frames = np.unique(groups)
    val_frames = set(rng.choice(frames, max(1, len(frames) // 5), replace=False).tolist())
    val = np.isin(groups, list(val_frames))
    idx = rng.choice(np.flatnonzero(~val), size=20_000, p=w[~val] / w[~val].sum())
    mean, scale = x[~val].mean(axis=0, dtype=np.float64), x[~val].std(axis=0, dtype=np.float64) + 1e-6
    mlp = MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-2, max_iter=500, random_state=seed)
    mlp.fit((x[idx] - mean) / scale, y[idx])
    clf = Classifier.from_sklearn(mlp, mean, scale, FEATURES)
    pv = clf.predict(x[val]) > 0.5
    gained, lost = float(gain[val][pv].sum()), float(loss[val][pv].sum())
    log(f"validation frames {len(val_frames)}, regions {int(val.sum())} ({int(y[val].sum())} backdrop): opened {int(pv.sum())}, "
        f"pixels gained {gained:.0f} of {float(gain[val][y[val]].sum()):.0f}, lost {lost:.0f}")
    return clf, {"val_frames": len(val_frames), "val_regions": int(val.sum()), "val_backdrop": int(y[val].sum()),
                 "val_px_gained": gained, "val_px_lost": lost}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.hole_classifier", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=240, help="catalog-tune frames 0..N-1")
    ap.add_argument("--out", type=Path, default=ROOT / "workers" / "engine" / "data" / "hole_classifier.json")
    args = ap.parse_args(argv)
    from workers.engine.engine import Engine

    engine = Engine.from_settings()
    x, stake, g = collect(engine, args.frames)
    print(f"{len(x)} regions from {len(np.unique(g))} frames; {(stake[:, 0] > stake[:, 1]).mean():.2f} backdrop")
    clf, scores = fit(x, stake, g)
    args.out.write_text(clf.to_json())
    args.out.with_suffix(".scores.json").write_text(json.dumps({**scores, "frames": args.frames, "regions": len(x),
                                                                "model": engine.model_id}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

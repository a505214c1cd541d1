"""Train the engine's zoom judge (workers/engine/zoom_judge.py) on the tuning family.

    python -m training.zoom_judge [--frames 0-240,300-460] [--out workers/engine/data/zoom_judge.json]
    SMALLCUT_CLOSE_MODEL=u2netp_close python -m training.zoom_judge --frames 220-240,300-460
        # -> data/zoom_judge.u2netp_close.json: the judge of that network's zooms (its own training
        #    frames 0-219 left out: its zooms there are better than anywhere else)

Every zoom the engine makes on a catalog-tune frame (bench.tune) is recorded with its features, using
the hand-made score to decide during collection; each is labelled by the ground truth: a zoom whose
foreground lies mostly on a real object (precision >= 0.5) should be accepted, any other rejected.
A small MLP (scikit-learn, only needed here) is fitted on a frame-level split and written as JSON.
Frames 240-299 stay out: they are the tuning family's own check of the engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np


def collect(engine, frames: list[int], log=print):
    from bench.tune.build import build_set

    d = build_set(n=max(frames) + 1)
    judge_off = engine.with_config(replace(engine.config, learned_zoom_accept=False))
    rows, labels, groups = [], [], []
    t0 = time.perf_counter()
    for k, i in enumerate(frames):
        name = f"tune-{i:04d}"
        rgb = cv2.cvtColor(cv2.imread(str(d / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(d / f"{name}.alpha.png"), cv2.IMREAD_GRAYSCALE) > 127
        judge_off.trace = []
        judge_off.matte(rgb, postprocess_on=False)
        for z in judge_off.trace:
            fg = z["patch"]
            on = gt[z["box"].slices()]
            n = int(fg.sum())
            rows.append(z["features"])
            labels.append(n > 0 and (fg & on).sum() / n >= 0.5)
            groups.append(i)
        if (k + 1) % 40 == 0:
            log(f"  {k + 1}/{len(frames)} frames, {len(rows)} zooms, {time.perf_counter() - t0:.0f}s")
    return np.stack(rows), np.array(labels), np.array(groups)


def fit(x, y, groups, seed=0, log=print):
    from sklearn.neural_network import MLPClassifier

    from workers.engine.mlp import Classifier
    from workers.engine.zoom_judge import FEATURES

    rng = np.random.default_rng(seed)
    frames = np.unique(groups)
    val = np.isin(groups, rng.choice(frames, max(1, len(frames) // 5), replace=False))
    mean, scale = x[~val].mean(axis=0, dtype=np.float64), x[~val].std(axis=0, dtype=np.float64) + 1e-6
    # balanced classes by resampling the training rows
    pos, neg = np.flatnonzero(y & ~val), np.flatnonzero(~y & ~val)
    m = max(len(pos), len(neg))
    idx = np.concatenate([rng.choice(pos, m), rng.choice(neg, m)])
    mlp = MLPClassifier(hidden_layer_sizes=(16, 8), alpha=1e-3, max_iter=500, early_stopping=True, random_state=seed)
    mlp.fit((x[idx] - mean) / scale, y[idx])
    clf = Classifier.from_sklearn(mlp, mean, scale, FEATURES)
    p = clf.predict(x[val])
    rule = x[val][:, 0] >= 0.35  # the hand-made score at its threshold, for comparison
    bal = lambda pred: 0.5 * (float(pred[y[val]].mean()) + float((~pred[~y[val]]).mean()))  # noqa: E731
    scores = {"val_zooms": int(val.sum()), "learned_balanced": bal(p >= 0.5), "rule_balanced": bal(rule),
              "learned_accuracy": float(((p >= 0.5) == y[val]).mean()), "rule_accuracy": float((rule == y[val]).mean())}
    log(json.dumps(scores))
    return clf, scores


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.zoom_judge", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="0-240,300-460", help="catalog-tune frame ranges (a-b, end excluded)")
    ap.add_argument("--out", type=Path, default=None, help="default: the judge file of the network that makes the zooms")
    args = ap.parse_args(argv)
    from training.catalog import parse_frames
    from workers.engine import zoom_judge
    from workers.engine.engine import Engine

    engine = Engine.from_settings()
    args.out = args.out or zoom_judge.own_weights(engine.close_net.spec.name)
    x, y, g = collect(engine, parse_frames(args.frames))
    print(f"{len(x)} zooms from {len(np.unique(g))} frames; {y.mean():.2f} real objects")
    clf, scores = fit(x, y, g)
    args.out.write_text(clf.to_json())
    args.out.with_suffix(".scores.json").write_text(json.dumps({**scores, "frames": args.frames, "model": engine.model_id}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

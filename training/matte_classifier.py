"""Train the engine's object-vs-backdrop pixel classifier (workers/engine/shadow.py) on the tuning family.

    python -m training.matte_classifier [--frames 240 | --frames 300-461] [--draws 1,2,3] [--shadow-weight 4] [--ecssd 200] [--out workers/engine/data/matte_classifier.json]

Data: catalog-tune frames 0-239 of the three tuning draws (shadows, reflections, holes, many
surfaces; bench.tune; the second draw adds neutral studio sweeps and deeper shadows, the third
veined stone) and ECSSD 0001-0800 photos (real subjects on real backgrounds: what must not be
eaten). For each frame the
engine's own map before post-processing is computed once (cached under bench/out/cache/), the frame
is brought to the step's working view, and the candidate pixels are labelled by the ground truth
(alpha > 0.5: object; anything else, shadows and reflections included, is backdrop). A small MLP
(scikit-learn, only needed here) is fitted with balanced weights on a frame-level split and written
as JSON the engine reads with numpy alone. The judge family is never read here.

Shadow and reflection pixels weigh four times other backdrop (`--shadow-weight`; the error the
step exists for: at 2 the classifier answered inside the gate's soft band on deep studio shadows).
`--small-weight W` also weighs an object's pixels by how small it is (`object_weights`, at most W):
counted per pixel, a ring of 0.05 % of the frame is nothing beside a bottle. The shipped weights
are this command's defaults (docs/benchmarks.md, "Heavier shadows").
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
CACHE = ROOT / "bench" / "out" / "cache" / "matte-prob"
PIXELS_PER_FRAME = 6000


def _frames(tune: list[int], n_ecssd: int, draws: tuple[int, ...]):
    from bench.paths import ecssd_dir
    from bench.tune.build import VERSION, build_set, set_name

    for draw in draws:
        d = build_set(n=max(tune, default=-1) + 1, draw=draw)
        for i in tune:
            name = f"tune-{i:04d}"
            rgb = cv2.cvtColor(cv2.imread(str(d / f"{name}.jpg")), cv2.COLOR_BGR2RGB)
            alpha = cv2.imread(str(d / f"{name}.alpha.png"), cv2.IMREAD_GRAYSCALE)
            shadow = cv2.imread(str(d / f"{name}.shadow.png"), cv2.IMREAD_GRAYSCALE)
            # the set and version are in the key: the engine maps cached for one draw are not another's
            yield f"{set_name(draw)}-v{VERSION}/{name}", rgb, alpha, shadow
    root = ecssd_dir()
    ids = np.random.default_rng(5).permutation(np.arange(1, 801))[:n_ecssd]
    for i in sorted(ids):
        rgb = cv2.cvtColor(cv2.imread(str(root / "images" / f"{i:04d}.jpg")), cv2.COLOR_BGR2RGB)
        alpha = cv2.imread(str(root / "masks" / f"{i:04d}.png"), cv2.IMREAD_GRAYSCALE)
        yield f"ecssd/{i:04d}", rgb, alpha, np.zeros_like(alpha)


def engine_prob(engine, key: str, rgb: np.ndarray) -> np.ndarray:
    """The engine's map before post-processing (and before this step), cached per model."""
    path = CACHE / engine.model_id.replace(":", "_") / f"{key}.png"
    if path.exists():
        return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    m = engine.matte(rgb, postprocess_on=False, shadows=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), m.alpha)
    return m.alpha.astype(np.float32) / 255.0


def object_weights(obj: np.ndarray, view_px_per_frame_px: float, frame_px: float, max_weight: float) -> np.ndarray:
    """Per-pixel weight of a view's object pixels (`obj` bool): sqrt(1 % of the frame / the object's
    area), between 1 and `max_weight`, so that an object under 1 % of the frame weighs more per pixel
    the smaller it is (0.1 % of the frame: 3.2 times; `max_weight` caps it). 1 off the objects."""
    w = np.ones(obj.shape)
    if max_weight <= 1.0 or not obj.any():
        return w
    n, lab, stats, _ = cv2.connectedComponentsWithStats(obj.astype(np.uint8), connectivity=8)
    area = np.maximum(stats[:, cv2.CC_STAT_AREA] / view_px_per_frame_px, 1.0)  # in frame pixels
    per = np.clip(np.sqrt(0.01 * frame_px / area), 1.0, max_weight)
    per[0] = 1.0
    return per[lab]


def collect(engine, tune: list[int], n_ecssd: int, side: int, seed: int = 0, ecssd_weight: float = 1.0, log=print,
            draws: tuple[int, ...] = (1, 2, 3), small_weight: float = 1.0, shadow_weight: float = 4.0):
    from workers.engine import shadow

    rng = np.random.default_rng(seed)
    xs, ys, ws, groups = [], [], [], []
    t0 = time.perf_counter()
    for k, (key, rgb, alpha, sh) in enumerate(_frames(tune, n_ecssd, draws)):
        prob = engine_prob(engine, key, rgb)
        for sub, img, p in shadow.work_views(rgb, prob, side):
            size = p.shape[::-1]
            gt = cv2.resize(alpha[sub], size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
            shw = cv2.resize(sh[sub], size, interpolation=cv2.INTER_AREA) > 127
            x, cand, _ = shadow.features(img, p)
            if not len(x):
                continue
            y = gt[cand] > 0.5
            scale = (p.shape[0] / (sub[0].stop - sub[0].start)) * (p.shape[1] / (sub[1].stop - sub[1].start))
            # shadows and reflections weigh more: the error the step exists for; small objects more
            w = (np.where(shw[cand] & ~y, shadow_weight, 1.0) * (ecssd_weight if key.startswith("ecssd/") else 1.0)
                 * object_weights(gt > 0.5, scale, alpha.size, small_weight)[cand])
            take = rng.choice(len(x), min(len(x), PIXELS_PER_FRAME), replace=False)
            xs.append(x[take]), ys.append(y[take]), ws.append(w[take]), groups.append(np.full(len(take), k))
        if (k + 1) % 20 == 0:
            log(f"  {k + 1} frames, {sum(len(a) for a in xs)} pixels, {time.perf_counter() - t0:.0f}s")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(ws), np.concatenate(groups)


def fit(x, y, w, groups, hidden=(32, 16), seed=0, log=print):
    from sklearn.neural_network import MLPClassifier

    from workers.engine.mlp import Classifier
    from workers.engine.shadow import FEATURES

    rng = np.random.default_rng(seed)
    frames = np.unique(groups)
    val_frames = set(rng.choice(frames, max(1, len(frames) // 5), replace=False).tolist())
    val = np.isin(groups, list(val_frames))
    # balance classes (object vs backdrop) on top of the shadow weight, by resampling
    pos, neg = y & ~val, ~y & ~val
    wt = w.astype(np.float64).copy()
    wt[pos] *= 0.5 / wt[pos].sum()
    wt[neg] *= 0.5 / wt[neg].sum()
    idx = rng.choice(np.flatnonzero(~val), size=min(400_000, int((~val).sum())), p=wt[~val] / wt[~val].sum())
    mean, scale = x[~val].mean(axis=0, dtype=np.float64), x[~val].std(axis=0, dtype=np.float64) + 1e-6
    mlp = MLPClassifier(hidden_layer_sizes=hidden, alpha=1e-4, batch_size=1024, max_iter=30, early_stopping=True, random_state=seed)
    mlp.fit((x[idx] - mean) / scale, y[idx])
    clf = Classifier.from_sklearn(mlp, mean, scale, FEATURES)
    pv = clf.predict(x[val])
    acc = float(((pv > 0.5) == y[val]).mean())
    bal = 0.5 * (float((pv[y[val]] > 0.5).mean()) + float((pv[~y[val]] <= 0.5).mean()))
    log(f"validation frames {len(val_frames)}: accuracy {acc:.3f}, balanced {bal:.3f}")
    return clf, {"val_frames": len(val_frames), "val_accuracy": acc, "val_balanced": bal}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.matte_classifier", description=__doc__.splitlines()[0])
    ap.add_argument("--frames", default="240", help="catalog-tune frames: N (0..N-1) or ranges a-b,c-d (end excluded; 300-461 for a network trained on 0-219)")
    ap.add_argument("--draws", default="1,2,3", help="catalog-tune draws to take the frames from (bench.tune --draw)")
    ap.add_argument("--small-weight", type=float, default=1.0, help="most a small object's pixel weighs (object_weights); 1: per pixel")
    ap.add_argument("--shadow-weight", type=float, default=4.0, help="weight of a shadow or reflection pixel against other backdrop")
    ap.add_argument("--ecssd", type=int, default=200, help="ECSSD 0001-0800 photos")
    ap.add_argument("--side", type=int, default=0, help="working side (default: the engine's shadow_side)")
    ap.add_argument("--ecssd-weight", type=float, default=1.0, help="weight of the real photos' pixels (what must not be eaten)")
    ap.add_argument("--out", type=Path, default=ROOT / "workers" / "engine" / "data" / "matte_classifier.json")
    args = ap.parse_args(argv)
    from training.catalog import parse_frames
    from workers.engine.engine import Engine

    frames = parse_frames(args.frames)
    engine = Engine.from_settings()
    side = args.side or engine.config.shadow_side
    draws = tuple(int(v) for v in args.draws.split(","))
    x, y, w, g = collect(engine, frames, args.ecssd, side, ecssd_weight=args.ecssd_weight, draws=draws, small_weight=args.small_weight,
                         shadow_weight=args.shadow_weight)
    print(f"{len(x)} pixels from {len(np.unique(g))} frames; {y.mean():.2f} object")
    clf, scores = fit(x, y, w, g)
    args.out.write_text(clf.to_json())
    (args.out.with_suffix(".scores.json")).write_text(json.dumps({**scores, "frames": args.frames, "draws": args.draws,
                                                                  "small_weight": args.small_weight,
                                                                  "shadow_weight": args.shadow_weight, "ecssd": args.ecssd, "side": side,
                                                                  "ecssd_weight": args.ecssd_weight,
                                                                  "model": engine.model_id}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

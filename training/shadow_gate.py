"""Train the region gate of the object-vs-backdrop step (workers/engine/shadow_gate.py).

    python -m training.shadow_gate collect --part tune    # catalog-tune 0-299   -> runs/shadow_gate/tune.npz
    python -m training.shadow_gate collect --part tune4   # catalog-tune4 0-299  -> runs/shadow_gate/tune4.npz
    python -m training.shadow_gate collect --part ecssd   # ECSSD 0001-0800      -> runs/shadow_gate/ecssd.npz
    python -m training.shadow_gate fit                    # -> workers/engine/data/shadow_gate.json (+ .scores.json)

Collect: each frame is cut without post-processing (the map the step reads), the step runs region by
region as the engine runs it, and every region where it takes something is scored against the
ground truth at the step's working size: the region's IoU with the step's answer minus without it
(on a photo: the photo's IoU, with this region's answer alone) is the label (the parts run in
separate processes, two at a time on two cores).

Fit: a logistic model (each region weighted by how much the step moved it, catalog and photo
families weighted alike); its level is chosen on out-of-fold answers (five folds, whole frames held
out): the level that gains most on the photos while the catalog frames lose at most
`--max-tune-loss` per frame; the shipped model is then trained on every frame. ECSSD 0801-1000 and
catalog-judge are never read here: they judge the result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

RUNS = Path("runs/shadow_gate")
PARTS = {"tune": ("catalog-tune", range(0, 300)), "tune4": ("catalog-tune4", range(0, 300)), "ecssd": ("ecssd-dev", range(1, 801))}


def _counts(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """Intersection and union of two masks, in pixels."""
    return int(np.count_nonzero(a & b)), int(np.count_nonzero(a | b))


def collect(part: str, out: Path, log=print) -> None:
    from bench import datasets
    from bench.shadow_trace import network_map
    from workers.engine import shadow, shadow_gate, steps
    from workers.engine.engine import Engine

    engine = Engine.from_settings()
    cfg, clf = engine.config, shadow.load_classifier()
    set_name, indices = PARTS[part]
    names = datasets.names(set_name, limit=max(indices) + 1) if set_name != "ecssd-dev" else [f"{i:04d}" for i in indices]
    rows: dict[str, list] = {k: [] for k in ("x", "gain", "gain_image", "px", "index")}
    t0 = time.perf_counter()
    for k, (index, name) in enumerate(zip(indices, names)):
        item = datasets.load(set_name, name)
        raw = network_map(engine, item.rgb)
        inter, union = _counts(raw > 0.5, item.alpha > 127)
        for sub, img, p, after, maps in steps.shadow_views(cfg, item.rgb, raw, clf):
            ch, cw = raw[sub].shape
            x = shadow_gate.features(img, p, after, maps["back"], ch * cw / raw.size)
            if x is None:
                continue
            gt = cv2.resize(item.alpha[sub], p.shape[::-1], interpolation=cv2.INTER_AREA) > 127
            (in0, un0), (in1, un1) = _counts(p > 0.5, gt), _counts(after > 0.5, gt)
            if un0 == 0 or un1 == 0:
                continue
            # the photo's IoU with this region's answer alone (the region's counts at the working size, scaled up)
            f = ch * cw / p.size
            d_inter, d_union = f * (in1 - in0), f * (un1 - un0)
            rows["x"].append(x)
            rows["gain"].append(in1 / un1 - in0 / un0)
            rows["gain_image"].append((inter + d_inter) / max(union + d_union, 1.0) - inter / max(union, 1))
            rows["px"].append(ch * cw)
            rows["index"].append(index)
        if (k + 1) % 50 == 0:
            log(f"  {part}: {k + 1}/{len(indices)} frames, {len(rows['x'])} regions, {time.perf_counter() - t0:.0f}s")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, x=np.stack(rows["x"]), gain=np.float32(rows["gain"]), gain_image=np.float32(rows["gain_image"]),
             px=np.int64(rows["px"]), index=np.int32(rows["index"]), part=np.array([part] * len(rows["x"])))
    log(f"wrote {out}: {len(rows['x'])} regions")


def _model(x: np.ndarray, gain: np.ndarray, photo: np.ndarray):
    """A logistic model of "the step raises the IoU" (standardised inputs: mean, scale, model)."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    w = np.abs(gain) + 1e-3  # a region counts by how much the step moved it ...
    for fam in (~photo, photo):  # ... the catalog and photo families alike in total
        w[fam] /= max(w[fam].sum(), 1e-9)
    lr = LogisticRegression(C=1.0, max_iter=5000)
    lr.fit((x - mean) / scale, gain > 0, sample_weight=w * len(w))
    return mean, scale, lr


def fit(parts: list[Path], out: Path, max_tune_loss: float, folds: int = 5, log=print) -> dict:
    from sklearn.model_selection import GroupKFold

    from workers.engine.mlp import Classifier
    from workers.engine.shadow_gate import FEATURES

    ds = [np.load(p) for p in parts]
    x = np.concatenate([d["x"] for d in ds]).astype(np.float64)
    idx = np.concatenate([d["index"] for d in ds])
    part = np.concatenate([d["part"] for d in ds])
    photo = part == "ecssd"
    # what each family is scored by: a catalog region's objects (their IoU), a photo's whole IoU
    gain = np.concatenate([d["gain_image"] if d["part"][0] == "ecssd" else d["gain"] for d in ds]).astype(np.float64)
    frames = np.array([f"{a}-{b}" for a, b in zip(part, idx)])
    n_tune, n_ecssd = len(set(frames[~photo])), len(set(frames[photo]))
    # the level is chosen on out-of-fold answers, whole frames held out (a region is never judged
    # by a model that saw its frame), then the shipped model is trained on every frame
    held_out = np.zeros(len(x))
    for tr, te in GroupKFold(folds).split(x, gain > 0, frames):
        mean, scale, lr = _model(x[tr], gain[tr], photo[tr])
        held_out[te] = lr.predict_proba((x[te] - mean) / scale)[:, 1]

    def saved(level: float, sel: np.ndarray, n: int) -> tuple[float, int]:
        """IoU per frame the gate adds over the step everywhere (regions it turns off give back -gain)."""
        off = sel & (held_out <= level)
        return -float(gain[off].sum()) / max(n, 1), int(off.sum())

    table = []
    for level in np.round(np.arange(0.05, 1.0, 0.05), 2):
        gt, nt = saved(level, ~photo, n_tune)
        ge, ne = saved(level, photo, n_ecssd)
        table.append({"level": float(level), "tune_gain": gt, "tune_regions_off": nt, "ecssd_gain": ge, "ecssd_regions_off": ne})
        log(f"  P <= {level:.2f} off: catalog {gt:+.4f} per frame ({nt} regions off), ECSSD {ge:+.4f} per photo ({ne} off)")
    everywhere = {"level": 0.0, "tune_gain": 0.0, "tune_regions_off": 0, "ecssd_gain": 0.0, "ecssd_regions_off": 0}
    ok = [everywhere] + [r for r in table if r["tune_gain"] >= -max_tune_loss]  # level 0: the step everywhere
    best = max(ok, key=lambda r: (r["ecssd_gain"], -r["level"]))
    oracle = {"tune_gain": float(np.clip(-gain[~photo], 0, None).sum()) / max(n_tune, 1),
              "ecssd_gain": float(np.clip(-gain[photo], 0, None).sum()) / max(n_ecssd, 1)}
    mean, scale, lr = _model(x, gain, photo)
    clf = Classifier(np.float32(mean), np.float32(scale), (np.float32(lr.coef_.T),), (np.float32(lr.intercept_),), FEATURES)
    scores = {"level": best["level"], "chosen": best, "oracle": oracle, "levels": table,
              "coef": dict(zip(FEATURES, map(float, lr.coef_[0]))), "parts": [str(q) for q in parts],
              "rows": {"catalog": int((~photo).sum()), "ecssd": int(photo.sum()), "catalog_frames": n_tune, "ecssd_photos": n_ecssd},
              "max_tune_loss": max_tune_loss}
    log(json.dumps({"chosen": best, "oracle": oracle, "coef": scores["coef"]}, indent=1))
    out.write_text(clf.to_json())
    out.with_suffix(".scores.json").write_text(json.dumps(scores, indent=1))
    log(f"wrote {out}")
    return scores


def main(argv: list[str] | None = None) -> int:
    from workers.engine import shadow_gate

    ap = argparse.ArgumentParser(prog="python -m training.shadow_gate", description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=("collect", "fit"))
    ap.add_argument("--part", choices=tuple(PARTS), default="tune", help="collect: which frames")
    ap.add_argument("--rows", type=Path, nargs="*", help="fit: the collected parts (default: every part under runs/shadow_gate)")
    ap.add_argument("--out", type=Path, default=shadow_gate.WEIGHTS)
    ap.add_argument("--max-tune-loss", type=float, default=0.0005, help="IoU per frame the chosen level may cost the catalog frames (out of fold)")
    args = ap.parse_args(argv)
    if args.step == "collect":
        collect(args.part, RUNS / f"{args.part}.npz")
    else:
        fit(args.rows or sorted(RUNS.glob("*.npz")), args.out, args.max_tune_loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())

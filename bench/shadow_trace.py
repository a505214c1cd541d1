"""Where does a catalog set's shadow survive? The network, the object-vs-backdrop step, the rest.

    python -m bench.shadow_trace --set catalog-judge|catalog-tune|catalog-tuneN [--limit 100] [--skip 0] [--features] [--out bench/out/shadow-trace]

For every frame with a shadow or reflection (clean twins left out), the shadow and reflection area
of the ground truth (`.shadow.png` > 127 outside the object) is followed through the engine: the
share the network lit (its map before post-processing > 0.5), the share still lit after the learned
object-vs-backdrop step alone, and the share in the final alpha. The kept area is also split by its
distance to the object's outline: a band of a few pixels is the outline's precision, farther out it
is the classifier's or the network's doing. Tables per shadow kind and per backdrop; `trace.json`
holds the frames.

`--features`: also what the object-vs-backdrop classifier sees at the lit shadow pixels (the
median of each of its features) and the share of them it calls object (P >= 0.5): comparing two
sets this way shows which look of a shadow one of them never taught it.

The shadow step here is the engine's own (`steps.shadows`) run on the network's map; only the
other post-processing steps are left out of the middle column.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from . import catalog_format, datasets

DIST_BINS = (0, 2, 4, 8, 16, 32, 64)  # px from the outline; the last bin is open


def trace(alpha: np.ndarray, shadow_mask: np.ndarray, raw: np.ndarray, shadowed: np.ndarray, final: np.ndarray) -> dict:
    """Counts for one frame (all uint8 / float maps of one size; > half counts as lit): shadow px,
    lit by the network, left by the shadow step, in the final alpha, and the final ones per distance bin."""
    obj = alpha >= 128
    m = (shadow_mask > 127) & ~obj
    dist = cv2.distanceTransform((~obj).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[m]
    lit, stays, kept = _lit(raw)[m], _lit(shadowed)[m], _lit(final)[m]
    bins = np.digitize(dist, DIST_BINS[1:])  # 0 .. len(DIST_BINS) - 1
    nb = len(DIST_BINS)
    return {
        "shadow_px": int(m.sum()),
        "lit": int(lit.sum()),
        "after_step": int(stays.sum()),
        "final": int(kept.sum()),
        "final_by_dist": np.bincount(bins[kept], minlength=nb).tolist(),
        "px_by_dist": np.bincount(bins, minlength=nb).tolist(),
        "lit_by_dist": np.bincount(bins[lit], minlength=nb).tolist(),
        "after_step_by_dist": np.bincount(bins[stays], minlength=nb).tolist(),
    }


def network_map(engine, rgb: np.ndarray) -> np.ndarray:
    """The frame's map as the object-vs-backdrop step reads it: the engine's cut without
    post-processing (float32 0..1, frame size)."""
    return engine.matte(rgb, postprocess_on=False, shadows=False).alpha.astype(np.float32) / 255.0


def step_maps(engine, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The frame's map before the object-vs-backdrop step (the network's, no post-processing, as
    the engine's alpha reads it) and after the step alone (float32, frame size)."""
    from workers.engine import steps

    raw = network_map(engine, rgb)
    state = steps.PostState(engine.config, rgb, raw, [])  # the step writes its answer to state.prob, raw stays
    steps.shadows(state)
    return raw, state.prob


def _lit(m: np.ndarray) -> np.ndarray:
    return m >= 128 if m.dtype == np.uint8 else m > 0.5


def lit_shadow_features(rgb: np.ndarray, alpha: np.ndarray, shadow_mask: np.ndarray, raw: np.ndarray, side: int) -> np.ndarray:
    """The classifier's features (N x F) at the shadow pixels the network lit, in the step's views."""
    from workers.engine import shadow

    out = [np.zeros((0, len(shadow.FEATURES)), np.float32)]
    for sub, img, p in shadow.work_views(rgb, raw, side):
        size = p.shape[::-1]
        obj = cv2.resize(alpha[sub], size, interpolation=cv2.INTER_AREA) > 127
        sh = cv2.resize(shadow_mask[sub], size, interpolation=cv2.INTER_AREA) > 127
        x, cand, _ = shadow.features(img, p)
        if len(x):
            out.append(x[sh[cand] & ~obj[cand] & (x[:, 0] > 0.5)])
    return np.concatenate(out)


def _shares(rows: list[dict]) -> dict:
    n = max(1, sum(r["shadow_px"] for r in rows))
    by = np.sum([r["final_by_dist"] for r in rows], axis=0) / n
    px = np.sum([r["px_by_dist"] for r in rows], axis=0)
    # per distance bin: its share of the area, and the share of its own pixels lit at each stage
    at = {k: (np.sum([r[f"{k}_by_dist"] for r in rows], axis=0) / np.maximum(px, 1)).tolist() for k in ("lit", "after_step", "final")}
    return {"frames": len(rows), "lit": sum(r["lit"] for r in rows) / n, "after_step": sum(r["after_step"] for r in rows) / n,
            "final": sum(r["final"] for r in rows) / n, "final_by_dist": by.tolist(), "area_by_dist": (px / n).tolist(),
            "lit_at_dist": at["lit"], "after_step_at_dist": at["after_step"], "final_at_dist": at["final"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.shadow_trace", description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="catalog-judge", choices=datasets.CATALOG_SETS)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--features", action="store_true", help="also the classifier's features at the lit shadow pixels")
    ap.add_argument("--out", type=Path, default=Path("bench/out/shadow-trace"))
    args = ap.parse_args(argv)

    from workers.engine import shadow
    from workers.engine.engine import Engine

    eng = Engine.from_settings()
    d = catalog_format.set_dir(args.set)
    names = datasets.names(args.set, limit=args.limit, skip=args.skip)
    frames, feats, t0 = [], [], time.perf_counter()
    for k, name in enumerate(names):
        rgb, alpha, sh, meta = catalog_format.load_sample(d, name)
        if not (sh > 127).any():
            continue
        raw, shadowed = step_maps(eng, rgb)
        final = eng.matte(rgb).alpha
        if args.features:
            feats.append(lit_shadow_features(rgb, alpha, sh, raw, eng.config.shadow_side))
        kinds = [e for e in meta["effects"] if e in catalog_format.SHADOW_EFFECTS]
        frames.append({"name": name, "background": meta["background"]["kind"], "kinds": kinds,
                       **trace(alpha, sh, raw, shadowed, final)})
        if (k + 1) % 20 == 0:
            print(f"  {k + 1}/{len(names)} frames  {time.perf_counter() - t0:.0f}s", flush=True)
    groups: dict[str, list[dict]] = defaultdict(list)
    for f in frames:
        for g in ["all", *f["kinds"], f"on {f['background']}"]:
            groups[g].append(f)
    heads = [f"{a}-{b}" for a, b in zip(DIST_BINS, DIST_BINS[1:])] + [f">{DIST_BINS[-1]}"]
    print(f"\n{args.set}: share of the shadow/reflection area lit (> 0.5) at each stage; the final share split by px from the outline")
    print(f"{'':18s} {'frames':>6s} {'network':>8s} {'step':>6s} {'final':>6s}   " + " ".join(f"{h:>6s}" for h in heads))
    table = {}
    for g in sorted(groups, key=lambda g: (g != "all", g.startswith("on "), g)):
        s = table[g] = _shares(groups[g])
        print(f"{g:18s} {s['frames']:6d} {s['lit']:8.3f} {s['after_step']:6.3f} {s['final']:6.3f}   "
              + " ".join(f"{v:6.3f}" for v in s["final_by_dist"]))
    if "all" in table:
        a = table["all"]
        print("\nall frames, by px from the outline: the bin's share of the shadow area, and of its own pixels the share lit")
        print(f"{'':18s} " + " ".join(f"{h:>6s}" for h in heads))
        for label, key in (("area", "area_by_dist"), ("network", "lit_at_dist"), ("step", "after_step_at_dist"), ("final", "final_at_dist")):
            print(f"{label:18s} " + " ".join(f"{v:6.3f}" for v in a[key]))
    features = None
    if args.features:
        x = np.concatenate(feats) if feats else np.zeros((0, len(shadow.FEATURES)), np.float32)
        kept = float((shadow.load_classifier().predict(x) >= 0.5).mean()) if len(x) else 0.0
        features = {"pixels": len(x), "called_object": kept,
                    "median": {f: float(np.median(x[:, i])) if len(x) else None for i, f in enumerate(shadow.FEATURES)}}
        print(f"\nthe classifier at {len(x)} lit shadow pixels: {kept:.3f} called object; feature medians:")
        print("  " + "  ".join(f"{f}={v:.3f}" for f, v in features["median"].items() if v is not None))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "trace.json").write_text(json.dumps({"set": args.set, "engine": eng.model_id, "groups": table,
                                                     "features": features, "frames": frames}, indent=1))
    print(f"wrote {args.out / 'trace.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does the photo say where the object-vs-backdrop step should have cut? The outline cue, measured.

    python -m bench.cut_edges --set ecssd-dev --skip 600 --limit 200 [--names FILE] [--out bench/out/cut-edges]
    python -m bench.cut_edges --set catalog-tune4 --skip 240 --limit 60
    python -m bench.cut_edges --fit A/regions.json B/regions.json

The learned shadow step (`steps.shadows`) takes regions away from what the network lit. Where it
takes a shadow, the line between what it took and what it kept should run along the object's own
outline, a strong colour edge in the photo; where it takes a chunk of the subject (a dolphin's belly,
a dark watch strap), the line runs through the subject, where the photo need not have an edge. This
measures that: for every region the step took (> 0.5 before, <= 0.5 after; at least `--min-px`
pixels), the colour edge strength (tiling.edge_strength) along the cut, relative to the strength along
the kept object's outline against the backdrop, and whether the region was object in the ground
truth. The table gives, per set and per kind of region, the median ratio and the area-weighted
AUC of "object chunks cut where the photo has the weaker edge" (0.5: the cue says nothing).
Three more cues are scored the same way: how dark the region is against the backdrop beside it
(`darkness`), the share of its rim on the backdrop (`open_rim`; 0: a hole) and its size against
the object it was cut from (`of_subject`).

Writes `regions.json` (one row per region) under --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from . import datasets
from .shadow_trace import step_maps

MIN_PX = 50


def regions(rgb: np.ndarray, alpha: np.ndarray, before: np.ndarray, after: np.ndarray, min_px: int = MIN_PX) -> list[dict]:
    """One row per region the step took: its area, the share of it that is object in `alpha`, the
    median edge strength along the cut (both sides of it) and along the kept object's outline."""
    from workers.engine import tiling

    removed = (before > 0.5) & (after <= 0.5)
    kept = after > 0.5
    if not removed.any() or not kept.any():
        return []
    edges = tiling.edge_strength(rgb)
    k3 = np.ones((3, 3), np.uint8)
    backdrop = before <= 0.5
    outline = (cv2.dilate(backdrop.view(np.uint8), k3) > 0) & kept
    ref = float(np.median(edges[outline])) if outline.any() else float("nan")
    near_kept = cv2.dilate(kept.view(np.uint8), k3) > 0
    lum = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    reach = max(5, int(0.01 * max(rgb.shape[:2])))
    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    _, kept_lab, kept_stats, _ = cv2.connectedComponentsWithStats(kept.view(np.uint8), connectivity=8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(removed.view(np.uint8), connectivity=8)
    obj = alpha > 127
    rows = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] < min_px:
            continue
        reg = lab == i
        grown = cv2.dilate(reg.view(np.uint8), k3) > 0
        beside = grown & kept  # kept pixels touching the region
        cut = (reg & near_kept) | beside
        if cut.sum() < 5:
            continue  # a region apart from what stayed: nothing was cut
        rim = grown & ~reg
        ring = (cv2.dilate(reg.view(np.uint8), ring_kernel) > 0) & backdrop
        touching = np.unique(kept_lab[beside])
        subject = float(kept_stats[touching[touching > 0], cv2.CC_STAT_AREA].sum())
        rows.append({"area": int(stats[i, cv2.CC_STAT_AREA]), "object_share": float(obj[reg].mean()),
                     "cut_edge": float(np.median(edges[cut])), "outline_edge": ref,
                     # how much darker than the backdrop beside it (a shadow always is; nan: no backdrop near)
                     "darkness": float(np.median(lum[reg]) / max(1.0, np.median(lum[ring]))) if ring.any() else float("nan"),
                     # share of its rim on the backdrop (0: enclosed by what stayed, a hole)
                     "open_rim": float(backdrop[rim].mean()) if rim.any() else 0.0,
                     # its size against the object it was cut from
                     "of_subject": float(stats[i, cv2.CC_STAT_AREA]) / max(1.0, subject)})
    return rows


def ratio(row: dict) -> float:
    return row["cut_edge"] / max(row["outline_edge"], 1.0)


def auc(rows: list[dict], value=ratio) -> float:
    """Area-weighted probability that an object chunk's `value` (default: its cut's edge relative to
    its outline) is lower than a backdrop region's: 1 means the cue separates them perfectly, 0.5
    not at all, 0 perfectly the other way round. Regions where `value` is undefined are left out."""
    rows = [r for r in rows if value(r) == value(r)]
    chunk = np.array([r["object_share"] > 0.5 for r in rows], bool)
    x = np.array([value(r) for r in rows])
    w = np.array([r["area"] for r in rows], float)
    if chunk.all() or not chunk.any():
        return float("nan")
    pos, neg, wp, wn = x[chunk], x[~chunk], w[chunk], w[~chunk]
    less = (pos[:, None] < neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float((wp[:, None] * wn[None, :] * less).sum() / (wp.sum() * wn.sum()))


def cues(row: dict) -> list[float]:
    """The region's cues as a learned decision would read them (logs where they are ratios)."""
    return [float(np.log(max(row["darkness"], 1e-3))), row["open_rim"], float(np.log(row["of_subject"] + 1e-4)),
            float(np.log(ratio(row) + 1e-3)), float(np.log(row["area"]))]


def fit_cv(sources: dict[str, list[dict]], folds: int = 5, seed: int = 0) -> dict[str, float]:
    """Could one decision learn all the cues at once? A logistic regression on `cues`, object chunk
    or not, weighted by the square root of the area, cross-validated with whole frames held out:
    the area-weighted AUC of its held-out answers per source and over all ("chunk has the higher
    P": 0.5 is no information). Regions with an undefined cue are left out."""
    from sklearn.linear_model import LogisticRegression

    rows = [(src, r) for src, rs in sources.items() for r in rs if r["darkness"] == r["darkness"] and ratio(r) == ratio(r)]
    frames = sorted({(src, r["frame"]) for src, r in rows})
    np.random.default_rng(seed).shuffle(frames)
    fold = {f: i % folds for i, f in enumerate(frames)}
    held: dict[int, float] = {}
    for k in range(folds):
        train = [r for src, r in rows if fold[(src, r["frame"])] != k]
        test = [(i, r) for i, (src, r) in enumerate(rows) if fold[(src, r["frame"])] == k]
        labels = [r["object_share"] > 0.5 for r in train]
        if not test or len(set(labels)) < 2:
            continue
        model = LogisticRegression(max_iter=1000).fit(np.array([cues(r) for r in train]), labels,
                                                      sample_weight=[np.sqrt(r["area"]) for r in train])
        for (i, _), p in zip(test, model.predict_proba(np.array([cues(r) for _, r in test]))[:, 1]):
            held[i] = float(p)
    scored = [({**r, "p": held[i]}, src) for i, (src, r) in enumerate(rows) if i in held]
    out = {src: 1.0 - auc([r for r, s in scored if s == src], lambda r: r["p"]) for src in sources}
    out["all"] = 1.0 - auc([r for r, _ in scored], lambda r: r["p"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cut_edges", description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=datasets.SETS)
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--names", type=Path, help="only these frames (one name per line)")
    ap.add_argument("--min-px", type=int, default=MIN_PX)
    ap.add_argument("--out", type=Path, default=Path("bench/out/cut-edges"))
    ap.add_argument("--fit", type=Path, nargs="+", metavar="REGIONS_JSON",
                    help="no engine run: fit one decision on the cues of these runs' regions.json together "
                         "(cross-validated by frame) and print its AUC per run")
    args = ap.parse_args(argv)
    if args.fit:
        result = fit_cv({str(p): json.loads(p.read_text()) for p in args.fit})
        print("one logistic decision on darkness, open_rim, of_subject, cut edge and area, frames held out "
              "(AUC of an object chunk getting the higher P):")
        for src, value in result.items():
            print(f"  {src}: {value:.3f}")
        return 0
    if not args.set:
        ap.error("--set (or --fit) is required")
    from . import _common as C

    engine = C.load_engine(0)
    names = args.names.read_text().split() if args.names else datasets.names(args.set, args.limit, skip=args.skip)
    rows = []
    for name in names:
        item = datasets.load(args.set, name)
        before, after = step_maps(engine, item.rgb)
        rows += [{"frame": name, **r} for r in regions(item.rgb, item.alpha, before, after, args.min_px)]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regions.json").write_text(json.dumps(rows))
    print(f"{args.set}: {len(names)} frames, {len(rows)} regions the shadow step took\n")
    print("| regions | n | area px | cut / outline edge, median | area-weighted mean |")
    print("|---|---|---|---|---|")
    for kind, sel in (("object chunks (> half object)", lambda r: r["object_share"] > 0.5),
                      ("backdrop, shadows, reflections", lambda r: r["object_share"] <= 0.5)):
        rs = [r for r in rows if sel(r) and r["outline_edge"] == r["outline_edge"]]
        if rs:
            x, w = np.array([ratio(r) for r in rs]), np.array([r["area"] for r in rs])
            print(f"| {kind} | {len(rs)} | {int(w.sum())} | {np.median(x):.2f} | {np.average(x, weights=w):.2f} |")
    print(f"\narea-weighted AUC (object chunks cut on the weaker edge): {auc(rows):.3f}")
    print("other cues, area-weighted AUC of an object chunk having the lower value (0.5: none; near 0: the higher):")
    for key in ("darkness", "open_rim", "of_subject"):
        print(f"  {key}: {auc(rows, lambda r, k=key: r[k]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

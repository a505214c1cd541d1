"""Two bench.quality runs of one set, object by object: what a change won and what it lost.

    python -m bench.diff bench/out/quality/catalog-judge/results.json other/catalog-judge/results.json [--method smallcut] [--top 10]

Means hide trades: a change can keep a bucket's mean IoU level while it loses some objects and
wins others, or win on the frames with shadows and lose on their clean twins. This prints, for
the main frames and (with `--twins` runs) the clean twins apart: per size bucket the mean IoU of
both runs, the objects found (IoU > 0.5) by one run and not the other, and the objects that moved
by more than 0.1; then the images whose MAE moved most and the objects that moved most.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .metrics import BUCKETS
from .report import HIT_IOU

MOVED = 0.1  # an object counts as moved when its IoU changed by more than this


def _records(path: Path, method: str) -> tuple[dict, dict]:
    r = json.loads(path.read_text())
    objects = {(o["name"], o["object"]): o for o in r["objects"] if o["method"] == method}
    images = {i["name"]: i for i in r["images"] if i["method"] == method}
    if not objects and not images:
        raise SystemExit(f"{path}: no records of method {method!r} (methods: {', '.join(r.get('methods', []))})")
    return objects, images


def compare(a_objects: dict, b_objects: dict) -> dict:
    """Per group ('main', 'clean twins') and size bucket ('all' too): n, mean IoU of a and b,
    objects found by b only ('won') and by a only ('lost'), and moved by more than MOVED either way."""
    out: dict = {}
    for key, a in a_objects.items():
        b = b_objects.get(key)
        if b is None:
            continue
        group = "clean twins" if a.get("twin_of") else "main"
        for bucket in (a["bucket"], "all"):
            s = out.setdefault(group, {}).setdefault(bucket, {"n": 0, "iou_a": 0.0, "iou_b": 0.0, "won": 0, "lost": 0, "better": 0, "worse": 0})
            s["n"] += 1
            s["iou_a"] += a["iou"]
            s["iou_b"] += b["iou"]
            s["won"] += a["iou"] <= HIT_IOU < b["iou"]
            s["lost"] += b["iou"] <= HIT_IOU < a["iou"]
            s["better"] += b["iou"] - a["iou"] > MOVED
            s["worse"] += a["iou"] - b["iou"] > MOVED
    order = [label for label, _, _ in BUCKETS] + ["all"]
    for group, buckets in out.items():
        for s in buckets.values():
            s["iou_a"] /= s["n"]
            s["iou_b"] /= s["n"]
        out[group] = dict(sorted(buckets.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.diff", description=__doc__.splitlines()[0])
    ap.add_argument("a", type=Path, help="results.json of the baseline run")
    ap.add_argument("b", type=Path, help="results.json of the run to compare")
    ap.add_argument("--method", default="smallcut")
    ap.add_argument("--top", type=int, default=10, help="images and objects listed that moved most")
    args = ap.parse_args(argv)
    a_obj, a_img = _records(args.a, args.method)
    b_obj, b_img = _records(args.b, args.method)
    print(f"{args.method}: a = {args.a}, b = {args.b}")
    print(f"{'group':12s} {'bucket':7s} {'n':>4s} {'IoU a':>6s} {'IoU b':>6s} {'delta':>7s} {'won':>4s} {'lost':>4s} {'better':>6s} {'worse':>6s}")
    for group, buckets in compare(a_obj, b_obj).items():
        for bucket, s in buckets.items():
            print(f"{group:12s} {bucket:7s} {s['n']:4d} {s['iou_a']:6.3f} {s['iou_b']:6.3f} {s['iou_b'] - s['iou_a']:+7.3f} "
                  f"{s['won']:4d} {s['lost']:4d} {s['better']:6d} {s['worse']:6d}")
    common = [n for n in a_img if n in b_img]
    if common:
        mean = lambda recs, k: sum(r[k] for r in recs) / len(recs)  # noqa: E731
        for label, sel in (("main", [n for n in common if not a_img[n].get("twin_of")]), ("clean twins", [n for n in common if a_img[n].get("twin_of")])):
            if sel:
                ra, rb = [a_img[n] for n in sel], [b_img[n] for n in sel]
                print(f"images, {label}: {len(sel)}, IoU {mean(ra, 'iou'):.4f} -> {mean(rb, 'iou'):.4f}, MAE {mean(ra, 'mae'):.5f} -> {mean(rb, 'mae'):.5f}, "
                      f"FP blobs {mean(ra, 'fp_blobs'):.2f} -> {mean(rb, 'fp_blobs'):.2f}")
        print(f"images whose MAE moved most (of {len(common)}):")
        for n in sorted(common, key=lambda n: abs(b_img[n]["mae"] - a_img[n]["mae"]), reverse=True)[:args.top]:
            x, y = a_img[n], b_img[n]
            print(f"  {n} {x.get('background', '')}: MAE {x['mae']:.4f} -> {y['mae']:.4f}, IoU {x['iou']:.3f} -> {y['iou']:.3f}, FP blobs {x['fp_blobs']} -> {y['fp_blobs']}")
    keys = [k for k in a_obj if k in b_obj]
    print(f"objects whose IoU moved most (of {len(keys)}):")
    for k in sorted(keys, key=lambda k: abs(b_obj[k]["iou"] - a_obj[k]["iou"]), reverse=True)[:args.top]:
        x, y = a_obj[k], b_obj[k]
        print(f"  {k[0]}#{k[1]} {x.get('kind', '?')} on {x.get('background', '?')} {100 * x['area_frac']:.2f}%: IoU {x['iou']:.3f} -> {y['iou']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Matte quality by object size: the benchmark the engine is tuned against.

    python -m bench.quality --set synth-dev [--limit N] [--backgrounds gradient,fabric,wood] [--methods smallcut,rembg] [--out bench/out/quality]
                            [--engine detect_tile=224 ...]

Every object is scored in its own window and bucketed by its area (<0.2 %, 0.2-1 %, 1-5 %, >5 % of
the frame): mean IoU, hit rate (IoU > 0.5), MAE, boundary F, the share missed outright (recall
< 0.1: localisation) and the IoU/precision of the rest (mask quality), and for objects with holes the share
of hole pixels predicted as foreground. Per image: IoU, MAE and false-positive blobs away from every
object. Writes results.json, summary.md, chart.png, worst_<method>.png (lowest IoU) and
worst_found_<method>.png (lowest IoU among objects at least partly found) under --out/<set>/.

On the catalog sets (catalog-judge, catalog-tune) it also reports by backdrop and by effect, and per
image the share of the shadow/reflection area kept as foreground; with --twins each shadowed frame's
clean twin is scored too, and the tables compare the pairs (IoU with the shadow vs without). The
oracle method runs the network on crops around the true objects (perfect localisation).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import datasets, methods, metrics, report
from .paths import OUT


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.splitlines()[0])
    ap.add_argument("--set", required=True, choices=datasets.SETS)
    ap.add_argument("--limit", type=int, default=None, help="first N images of the set")
    ap.add_argument("--skip", type=int, default=0, help="leave out the first N images (catalog-tune --skip 240: the tuning check)")
    ap.add_argument("--backgrounds", default=None, help="only frames on these backgrounds (comma-separated: gradient,fabric,wood,photo; catalog sets: sweep,paper,marble,...)")
    ap.add_argument("--twins", action="store_true", help="catalog sets: also score each shadowed frame's clean twin and compare the pairs")
    ap.add_argument("--methods", default="smallcut,rembg", help=f"comma-separated: {', '.join(methods.METHODS)}; smallcut ones take :MODEL (smallcut-noroi:u2netp_fpn)")
    ap.add_argument("--out", type=Path, default=OUT / "quality")
    ap.add_argument("--worst", type=int, default=20, help="objects in each worst-case contact sheet")
    ap.add_argument("--engine", action="append", default=[], metavar="KEY=VALUE",
                    help="override an engine setting for the smallcut methods (repeatable), e.g. detect_tile=224")
    return ap.parse_args(argv)


def evaluate(set_name: str, method_names: list[str], limit: int | None, worst: report.WorstCases, progress=None,
             overrides: dict | None = None, backgrounds: tuple[str, ...] | None = None, twins: bool = False,
             skip: int = 0) -> tuple[list[dict], list[dict]]:
    """Run every method on every item; returns per-object and per-image records."""
    runners = [methods.make(m, overrides) for m in method_names]
    objects, images = [], []
    names = datasets.names(set_name, limit, backgrounds, twins=twins, skip=skip)
    cache_tag = datasets.cache_tag(set_name)  # a method's disk cache follows the set's draw
    for idx, name in enumerate(names):
        item = datasets.load(set_name, name)
        h, w = item.alpha.shape
        tol = metrics.boundary_tolerance(w, h)
        windows = metrics.object_windows([o["bbox"] for o in item.objects], w, h)
        frame = {"effects": list(item.effects), "twin": item.twin, "twin_of": item.twin_of}
        for run in runners:
            if getattr(run, "needs_truth", False):
                pred = run(item.rgb, cache_tag, name, objects=item.objects)
            else:
                pred = run(item.rgb, cache_tag, name)
            img = metrics.score_image(pred.alpha, item.alpha, windows)
            kept, shadow_px = metrics.shadow_kept(pred.alpha, item.alpha, item.shadow)
            rec_img = {"name": name, "method": run.name, "background": item.background, "seconds": pred.seconds, "cached": pred.cached, **img,
                       "shadow_kept": kept, "shadow_px": shadow_px,
                       "shadow_opacity": metrics.shadow_opacity(pred.alpha, item.alpha, item.shadow), **frame}
            images.append(rec_img)
            obj_ious = []
            for obj, win in zip(item.objects, windows):
                s = metrics.score_object(pred.alpha, item.alpha, win, tol)
                rec = {
                    "name": name,
                    "object": obj["id"],
                    "kind": obj.get("kind", "?"),
                    "background": item.background,
                    "area_frac": obj["area_frac"],
                    "bucket": metrics.bucket(obj["area_frac"]),
                    "method": run.name,
                    "pair": bool(obj.get("pair", False)),
                    **frame,
                    **s,
                }
                objects.append(rec)
                obj_ious.append(s["iou"])
                label = f"{name}#{obj['id']} {rec['kind']} on {item.background} {100 * obj['area_frac']:.2f}%"
                box = (win.x0, win.y0, win.x1, win.y1)
                if item.twin_of:  # twins are for the paired comparison, not the worst cases
                    continue
                if item.effects:
                    label += " " + ",".join(e.replace("-shadow", "") for e in item.effects if e in report.SHADOW_EFFECTS)
                worst.offer(run.name, s["iou"], label, item.rgb, item.alpha, pred.alpha, box, item.shadow)
                if s["recall"] >= report.MISS_RECALL:  # mask quality, apart from localisation
                    worst.offer(f"{run.name}:found", s["iou"], label, item.rgb, item.alpha, pred.alpha, box, item.shadow)
            rec_img["obj_iou"] = sum(obj_ious) / len(obj_ious) if obj_ious else None
        if progress:
            progress(idx + 1, len(names))
    return objects, images


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    backgrounds = tuple(b.strip() for b in args.backgrounds.split(",") if b.strip()) if args.backgrounds else None
    method_names = [m.strip() for m in args.methods.split(",") if m.strip()]
    overrides = methods.engine_overrides(args.engine)
    for m in method_names:
        methods.make(m, overrides)  # fail early on a typo
    out = args.out / args.set
    out.mkdir(parents=True, exist_ok=True)
    worst = report.WorstCases(k=args.worst)

    t0 = time.perf_counter()

    def progress(i: int, n: int) -> None:
        if i == n or i % 10 == 0:
            print(f"  {i}/{n} images  {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)

    print(f"set {args.set}: preparing", file=sys.stderr, flush=True)
    datasets.names(args.set, args.limit, backgrounds)  # builds a generated set if missing
    t_data = time.perf_counter() - t0
    objects, images = evaluate(args.set, method_names, args.limit, worst, progress, overrides, backgrounds, twins=args.twins,
                               skip=args.skip)
    wall = time.perf_counter() - t0
    summary = report.summarize(objects, images, method_names)

    frames = {i["name"] for i in images if not i.get("twin_of")}
    n_twins = len({i["name"] for i in images if i.get("twin_of")})
    n_obj = len([o for o in objects if not o.get("twin_of")]) // max(1, len(method_names))
    title = f"{args.set} ({len(frames)} images{f' + {n_twins} clean twins' if n_twins else ''}, {n_obj} objects)"
    ts = report.tables(summary, title)
    report.print_tables(ts)
    print(f"wall {wall:.1f}s (data {t_data:.1f}s)")
    (out / "results.json").write_text(json.dumps({"set": args.set, "limit": args.limit, "skip": args.skip, "backgrounds": backgrounds, "twins": args.twins, "methods": method_names, "engine": overrides, "wall_s": wall, "summary": summary, "objects": objects, "images": images}, indent=1))
    (out / "summary.md").write_text("\n\n".join(f"### {t}\n\n{report.markdown_table(h, r)}" for t, h, r in ts) + "\n")
    report.bar_chart(summary, out / "chart.png", title)
    for m in method_names:
        stem = m.replace(":", "_")  # smallcut:MODEL
        worst.save(m, out / f"worst_{stem}.png")
        worst.save(f"{m}:found", out / f"worst_found_{stem}.png")
    print(f"wrote {out}/results.json, summary.md, chart.png, worst_*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Pretrained u2netp vs the retrained variants, from bench.quality results, and the default rule.

    for m in u2netp u2netp_cbam u2netp_fpn; do
      python -m bench.quality --set ecssd-eval --methods smallcut:$m,smallcut-noroi:$m --out bench/out/retrain/$m
      python -m bench.quality --set synth-eval --methods smallcut:$m,smallcut-noroi:$m --out bench/out/retrain/$m
    done
    python -m training.compare bench/out/retrain

Small objects: mean per-object IoU over synth-eval (composites made only from ECSSD 0801-1000, all
objects 0.05-5 % of the frame). Normal size: mean IoU of ECSSD 0801-1000 objects above 5 % of the
frame. A variant may become the default only if, on the engine's default path (ROI on), it beats
the pretrained model on small objects and loses at most `NORMAL_TOLERANCE` IoU on normal-size ones.
Only images that every model was scored on count (runs with different --limit stay comparable).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache
from pathlib import Path

BASE = "u2netp"
NORMAL_TOLERANCE = 0.005
PATHS = (("smallcut", "ROI"), ("smallcut-noroi", "no ROI"))
SMALL_BUCKETS = ("<0.2%", "0.2-1%", "1-5%")


@lru_cache(maxsize=None)
def _load(results_dir: Path, model: str, set_name: str) -> dict:
    """One results.json, parsed once: the rule reads each of them for every path and model."""
    return json.loads((results_dir / model / set_name / "results.json").read_text())


def common_names(results_dir: Path, models: list[str], set_name: str) -> set[str]:
    """Images every model was scored on (runs may have used different --limit)."""
    sets = [{i["name"] for i in _load(results_dir, m, set_name)["images"]} for m in models]
    return set.intersection(*sets)


def _mean(xs: list[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def scores(results_dir: Path, model: str, method: str, names: dict[str, set[str]]) -> dict:
    """The numbers the rule needs, for one model on one engine path, over the images in `names`."""
    key = f"{method}:{model}"

    def objs(set_name: str) -> list[dict]:
        res = _load(results_dir, model, set_name)
        return [o for o in res["objects"] if o["method"] == key and o["name"] in names[set_name]]

    synth, ecssd = objs("synth-eval"), objs("ecssd-eval")
    ecssd_images = [i for i in _load(results_dir, model, "ecssd-eval")["images"] if i["method"] == key and i["name"] in names["ecssd-eval"]]
    out = {f"small {b}": _mean([o["iou"] for o in synth if o["bucket"] == b]) for b in SMALL_BUCKETS}
    out["small"] = _mean([o["iou"] for o in synth])
    out["small n"] = len(synth)
    normal = [o["iou"] for o in ecssd if o["bucket"] == ">5%"]
    out["normal"] = _mean(normal)
    out["normal n"] = len(normal)
    out["ecssd per image"] = _mean([i["iou"] for i in ecssd_images])
    return out


def decide(base: dict, variant: dict, tolerance: float = NORMAL_TOLERANCE) -> tuple[bool, str]:
    """(wins, why): better on small objects and no more than `tolerance` worse on normal-size ones."""
    d_small = variant["small"] - base["small"]
    d_normal = variant["normal"] - base["normal"]
    wins = d_small > 0 and d_normal >= -tolerance
    why = f"small {d_small:+.3f}, normal {d_normal:+.3f} (limit -{tolerance})"
    return wins, why


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.compare", description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, help="folder with <model>/<set>/results.json from bench.quality")
    ap.add_argument("--models", default="u2netp_cbam,u2netp_fpn", help="variants to compare with u2netp")
    args = ap.parse_args(argv)
    _load.cache_clear()  # files read by an earlier call in this process may have been rewritten
    variants = [m.strip() for m in args.models.split(",") if m.strip()]
    head = ["model", "path", *[f"small {b}" for b in SMALL_BUCKETS], "small (all)", "normal (>5 %)", "ECSSD per image", "vs u2netp"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    models = [BASE, *variants]
    names = {set_name: common_names(args.results, models, set_name) for set_name in ("synth-eval", "ecssd-eval")}
    verdicts = {}
    for method, path in PATHS:
        base = scores(args.results, BASE, method, names)
        for model in models:
            s = scores(args.results, model, method, names)
            verdict = "-"
            if model != BASE:
                wins, why = decide(base, s)
                verdict = ("wins: " if wins else "does not win: ") + why
                verdicts[(model, path)] = wins
            cells = [model, path, *[_f(s[f"small {b}"]) for b in SMALL_BUCKETS], _f(s["small"]), _f(s["normal"]), _f(s["ecssd per image"]), verdict]
            print("| " + " | ".join(cells) + " |")
    n = scores(args.results, BASE, "smallcut", names)
    print(f"\nsmall: {n['small n']} objects in {len(names['synth-eval'])} synth-eval images; normal: {n['normal n']} objects > 5 % in {len(names['ecssd-eval'])} ECSSD 0801-1000 photos")
    winners = [m for m in variants if verdicts.get((m, "ROI"))]
    if winners:
        best = max(winners, key=lambda m: scores(args.results, m, "smallcut", names)["small"])
        print(f"default: {best} wins on the engine's default path (ROI)")
    else:
        print(f"default: {BASE} stays (no variant wins on the engine's default path)")
    return 0


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


if __name__ == "__main__":
    sys.exit(main())

"""Output formats: ms and bytes per image for each way a cut-out leaves the pipeline (profiles).

The engine runs once per image (its transparent RGBA); then each format renders that cut-out, in
rotating order image by image (a shared machine slows whichever runs during a spike), after a
warm-up; figures are medians. `engine-png` is the engine's own RGBA PNG encode (its `encode` stage)
for comparison: the full frame as an RGBA PNG is what `zip` avoids (colour JPEG + 8-bit alpha PNG).

    python -m bench.formats [--sets demo] [--n 8] [--threads 0]

`demo` is smallcut's generated samples (no data needed); `catalog` and `small-objects` are
bench.speed's 2000x1500 sets. Writes bench/out/formats/{results.json,summary.md,formats.png}.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import _common as C
from .paths import OUT

# name -> profile spec: full frame unless the profile itself crops
FORMATS: dict[str, str] = {
    "png": "transparent-png",
    "mask": "mask",
    "webp-lossless": "name=webp,format=webp",
    "webp-q80": "name=webp80,format=webp,quality=80",
    "jpg-q90-white": "name=jpg,format=jpg,quality=90",
    "zip": "zip",
    "amazon-main": "amazon-main",
    "shopify-square": "shopify-square",
}


def inputs(set_name: str, n: int) -> list[tuple[str, bytes]]:
    if set_name == "demo":
        from smallcut import samples

        return samples.generate()[:n]
    return [(p.name, p.read_bytes()) for p in C.jpeg_set(set_name, n)]


def cutouts(engine, images: list[tuple[str, bytes]]) -> list[dict]:
    """The engine's transparent RGBA of each image, with its own PNG encode time and size."""
    from workers import render
    from workers.engine import CutoutOptions

    out = []
    for name, data in images:
        r = engine.cutout(data, CutoutOptions())
        out.append({"name": name, "rgba": render.decode_rgba(r.png), "icc": render.icc_profile(data),
                    "engine_png_ms": r.timings.get("encode", float("nan")), "engine_png_bytes": len(r.png)})
    return out


def time_formats(items: list[dict], formats: dict[str, str], warmup: bool = True) -> list[dict]:
    """One record per (image, format): wall ms of render (place + encode) and output bytes."""
    from smallcut.profiles import parse
    from workers import render

    profiles = {name: parse(spec) for name, spec in formats.items()}
    names = list(profiles)
    if warmup and items:
        for name in names:
            render.render(items[0]["rgba"], profiles[name], items[0]["icc"])
    records = []
    for i, item in enumerate(items):
        records.append({"image": item["name"], "format": "engine-png", "ms": item["engine_png_ms"],
                        "bytes": item["engine_png_bytes"]})
        for name in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            [made] = render.render(item["rgba"], profiles[name], item["icc"])
            ms = (time.perf_counter() - t0) * 1000
            records.append({"image": item["name"], "format": name, "ms": ms, "bytes": len(made.data),
                            "canvas": [made.width, made.height]})
    return records


def summarise(records: list[dict]) -> dict:
    out: dict[str, dict] = {}
    for fmt in dict.fromkeys(r["format"] for r in records):
        rows = [r for r in records if r["format"] == fmt]
        out[fmt] = {"median_ms": C.median(r["ms"] for r in rows), "median_kb": C.median(r["bytes"] for r in rows) / 1024,
                    "images": len(rows)}
    return out


def report(result: dict) -> str:
    parts = []
    for set_name, summary in result["sets"].items():
        rows = [[fmt, v["median_ms"], v["median_kb"], v["images"]] for fmt, v in summary.items()]
        parts.append(f"### {set_name}\n\n" + C.table(rows, ["format", "median ms", "median KB", "images"]))
    return "\n\n".join(parts) + f"\n\nload: {result['load']}"


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = result["sets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4), squeeze=False)
    for ax, (set_name, summary) in zip(axes[0], sets.items()):
        names = list(summary)
        ms = [summary[n]["median_ms"] for n in names]
        ax.barh(names, ms)
        for y, n in enumerate(names):
            ax.text(ms[y], y, f" {summary[n]['median_ms']:.0f} ms, {summary[n]['median_kb']:.0f} KB", va="center", fontsize=7)
        ax.set_xlabel("median ms per image")
        ax.set_title(f"output formats ({set_name})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_formats(sets: dict[str, list[tuple[str, bytes]]], engine, formats: dict[str, str] = FORMATS) -> dict:
    result: dict = {"load": C.load(), "sets": {}, "records": {}}
    for set_name, images in sets.items():
        records = time_formats(cutouts(engine, images), formats)
        result["records"][set_name] = records
        result["sets"][set_name] = summarise(records)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.formats", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="demo", help=f"comma-separated, of demo, {', '.join(C.SETS)}")
    ap.add_argument("--n", type=int, default=8, help="images per set")
    ap.add_argument("--threads", type=int, default=0, help="ONNX intra-op threads (0: all cores)")
    ap.add_argument("--out", type=Path, default=OUT / "formats")
    args = ap.parse_args(argv)
    sets = {s: inputs(s, args.n) for s in args.sets.split(",")}
    result = run_formats(sets, C.load_engine(args.threads))
    argv_text = " ".join(argv if argv is not None else sys.argv[1:])
    C.write_outputs(args.out, result, report(result), chart, "formats.png", "python -m bench.formats " + argv_text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

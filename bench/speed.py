"""Speed of one process: 2000x1500 JPEG -> RGBA PNG, smallcut vs rembg `remove()` on the same bytes.

Methods run image by image in rotating order (a shared, noisy machine slows whichever runs during a
spike; rotating spreads that evenly), after a warm-up call each; figures are medians. smallcut's
per-stage timings (CutoutResult.timings) say where its time goes: wall and thread CPU ms per stage,
and the CPU ms per image outside network passes (bench/_common.py, cpu_accounting). Also measured on
the same images: PNG encoders on smallcut's RGBA outputs, and JPEG decoders.

    python -m bench.speed [--n 20] [--sets catalog,small-objects] [--threads 0] [--opencv-threads 0]

Writes bench/out/speed/{results.json,summary.md,speed.png,cpu.png}.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import cv2
import numpy as np

from . import _common as C
from .paths import OUT

METHODS = ("smallcut", "smallcut-noroi", "rembg")
# also measurable side by side (--methods): the same plan at a set precision (SMALLCUT_PRECISION;
# "smallcut" itself runs the default, auto: int8 on the CPU)
PRECISION_METHODS = {"smallcut-int8": "int8", "smallcut-fp32": "fp32"}


def make_runners(engine, session, methods=METHODS, threads: int = 0) -> dict:
    """name -> callable(bytes) -> (png bytes, stage timings (StageTimes, with CPU) or {}, extra info)."""
    from workers.engine import CutoutOptions

    def smallcut(opts, eng=engine):
        def run(data: bytes):
            r = eng.cutout(data, opts)
            return r.png, r.timings, {"passes": r.passes, "rois": r.rois}
        return run

    table = {
        "smallcut": lambda: smallcut(CutoutOptions()),
        "smallcut-noroi": lambda: smallcut(CutoutOptions(roi=False)),
        "rembg": lambda: lambda data: (C.rembg_png(data, session), {}, {}),
        **{m: (lambda p=p: smallcut(CutoutOptions(), C.load_engine(threads, p))) for m, p in PRECISION_METHODS.items()},
    }
    unknown = [m for m in methods if m not in table]
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}: one of {', '.join(table)}")
    return {m: table[m]() for m in methods}


def time_methods(paths: list[Path], runners: dict, warmup: bool = True) -> list[dict]:
    """One record per (image, method): wall and CPU ms, stage timings (wall, and for smallcut thread CPU
    per stage and outside network passes), output size. Rotating order."""
    names = list(runners)
    if warmup and paths:
        data = paths[0].read_bytes()
        for name in names:
            runners[name](data)
    records = []
    for i, path in enumerate(paths):
        data = path.read_bytes()
        for j in range(len(names)):
            name = names[(i + j) % len(names)]
            c0, t0 = time.process_time(), time.perf_counter()
            png, timings, info = runners[name](data)
            wall, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
            records.append({"image": path.stem, "method": name, "ms": round(wall, 2), "cpu_ms": round(cpu, 2),
                            "png_bytes": len(png), "timings": {k: round(v, 2) for k, v in timings.items()},
                            **C.cpu_accounting(timings), **info})
    return records


def summarise(records: list[dict]) -> dict:
    """Per method: median/mean ms, images/s (n / total time), CPU share, stage medians and means."""
    out = {}
    for m in dict.fromkeys(r["method"] for r in records):
        rs = [r for r in records if r["method"] == m]
        ms = [r["ms"] for r in rs]
        s = {"n": len(rs), "median_ms": round(C.median(ms), 1), "mean_ms": round(float(np.mean(ms)), 1),
             "images_per_s": round(1000 * len(rs) / sum(ms), 3),
             "cpu_cores_busy": round(sum(r["cpu_ms"] for r in rs) / sum(ms), 2),
             "median_png_kb": round(C.median(r["png_bytes"] for r in rs) / 1024, 1)}
        if rs[0]["timings"]:
            s["stage_median_ms"] = {k: round(C.median(r["timings"].get(k, 0.0) for r in rs), 1) for k in C.STAGES}
            s["stage_mean_ms"] = {k: round(float(np.mean([r["timings"].get(k, 0.0) for r in rs])), 1) for k in C.STAGES}
            s["mean_passes"] = round(float(np.mean([r.get("passes", 0) for r in rs])), 2)
            s["share_with_detection_pass"] = round(float(np.mean([r["timings"].get("detect", 0) > 50 for r in rs])), 2)
            s["cpu"] = C.summarise_cpu(rs)
        out[m] = s
    if "rembg" in out:
        by = {(r["image"], r["method"]): r["ms"] for r in records}
        for m, s in out.items():
            if m != "rembg":
                ratios = [by[(img, "rembg")] / by[(img, m)] for (img, mm) in by if mm == m and (img, "rembg") in by]
                s["speed_vs_rembg_median_paired"] = round(C.median(ratios), 3)
                s["speed_vs_rembg_throughput"] = round(s["images_per_s"] / out["rembg"]["images_per_s"], 3)
    return out


def _time(fn, repeats: int) -> float:
    xs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        xs.append((time.perf_counter() - t0) * 1000)
    return C.median(xs)


def encoders(rgba_images: list[np.ndarray], repeats: int = 3) -> dict:
    """PNG encoders on the same RGBA cutouts: median ms and KB."""
    from PIL import Image

    from workers.engine import codec

    def pil(level):
        def enc(a):
            buf = io.BytesIO()
            Image.fromarray(a).save(buf, format="PNG", **({} if level is None else {"compress_level": level}))
            return buf.getvalue()
        return enc

    cands = {
        "PIL default (level 6)": pil(None),
        "PIL level 1": pil(1),
        "OpenCV default": lambda a: cv2.imencode(".png", cv2.cvtColor(a, cv2.COLOR_RGBA2BGRA))[1].tobytes(),
        "OpenCV level 1 (smallcut 'opencv')": lambda a: codec.encode_png(a, "opencv"),
        "fpng (smallcut default)": lambda a: codec.encode_png(a, "fpng"),
    }
    res = {}
    for name, enc in cands.items():
        ms, kb = [], []
        for a in rgba_images:
            ms.append(_time(lambda enc=enc, a=a: enc(a), repeats))
            kb.append(len(enc(a)) / 1024)
        res[name] = {"median_ms": round(C.median(ms), 1), "median_kb": round(C.median(kb), 1)}
    return res


def decoders(datas: list[bytes], repeats: int = 3) -> dict:
    """JPEG decoders to uint8 RGB at full size (plus a reduced-size decode for reference)."""
    from PIL import Image

    from workers.engine import codec

    cands = {
        "smallcut codec.decode": lambda d: codec.decode(d),
        "OpenCV imdecode": lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_COLOR),
        "PIL": lambda d: np.asarray(Image.open(io.BytesIO(d)).convert("RGB")),
        "OpenCV 1/4 scale (reference)": lambda d: cv2.imdecode(np.frombuffer(d, np.uint8), cv2.IMREAD_REDUCED_COLOR_4),
    }
    try:
        import simplejpeg

        cands["simplejpeg"] = lambda d: simplejpeg.decode_jpeg(d, colorspace="RGB")
    except ImportError:
        pass
    return {name: {"median_ms": round(C.median(_time(lambda f=f, d=d: f(d), repeats) for d in datas), 1)} for name, f in cands.items()}


def run_speed(sets: dict[str, list[Path]], engine, session, methods=METHODS, codec_images: int = 5, repeats: int = 3,
              threads: int = 0) -> dict:
    """The whole measurement, as data (no printing, no files): what the CLI and the test call."""
    runners = make_runners(engine, session, methods, threads)
    result = {"machine_before": C.load(), "sets": {}}
    for set_name, paths in sets.items():
        records = time_methods(paths, runners)
        sub = paths[:codec_images]
        rgba = []
        if "smallcut" in runners:
            for p in sub:
                bgra = cv2.imdecode(np.frombuffer(runners["smallcut"](p.read_bytes())[0], np.uint8), cv2.IMREAD_UNCHANGED)
                rgba.append(cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA))
        result["sets"][set_name] = {
            "images": [p.name for p in paths],
            "summary": summarise(records),
            "records": records,
            "encoders": encoders(rgba, repeats) if rgba else {},
            "decoders": decoders([p.read_bytes() for p in sub], repeats),
        }
    result["machine_after"] = C.load()
    return result


def report(result: dict) -> str:
    lines = [f"load before {result['machine_before']['load_avg_1_5_15']}, after {result['machine_after']['load_avg_1_5_15']} "
             f"({result['machine_before']['cpus']} CPUs), onnxruntime {result['machine_before']['onnxruntime']}, "
             f"OpenCV threads {result['machine_before'].get('opencv_threads', '?')}"]
    for set_name, r in result["sets"].items():
        summ = r["summary"]
        lines += ["", f"### {set_name} ({len(r['images'])} images, 2000x1500 JPEG -> RGBA PNG)", ""]
        rows = [[m, s["median_ms"], s["mean_ms"], s["images_per_s"], s.get("speed_vs_rembg_median_paired", "-"),
                 s.get("speed_vs_rembg_throughput", "-"), s["cpu_cores_busy"], s["median_png_kb"]] for m, s in summ.items()]
        lines.append(C.table(rows, ["method", "median ms", "mean ms", "images/s", "x rembg (paired median)",
                                    "x rembg (images/s)", "cores busy", "PNG KB"]))
        stage_rows = []
        for m, s in summ.items():
            if "stage_mean_ms" in s:
                total = sum(s["stage_mean_ms"].values()) or 1
                stage_rows.append([m] + [f"{s['stage_median_ms'][k]:.0f} / {s['stage_mean_ms'][k]:.0f} ({100 * s['stage_mean_ms'][k] / total:.0f}%)"
                                         for k in C.STAGES] + [s["mean_passes"], s["share_with_detection_pass"]])
        if stage_rows:
            lines += ["", "stages, ms median / mean (share of mean total):", ""]
            lines.append(C.table(stage_rows, ["method", *C.STAGES, "passes", "detect share"]))
        cpu = C.cpu_report({m: s.get("cpu") for m, s in summ.items()})
        if cpu:
            lines += ["", cpu]
        if r["encoders"]:
            lines += ["", f"PNG encoders on smallcut's RGBA outputs ({len(r['images'][:5])} images):", ""]
            lines.append(C.table([[k, v["median_ms"], v["median_kb"]] for k, v in r["encoders"].items()], ["encoder", "median ms", "median KB"]))
        lines += ["", "JPEG decoders:", ""]
        lines.append(C.table([[k, v["median_ms"]] for k, v in r["decoders"].items()], ["decoder", "median ms"]))
    return "\n".join(lines)


def chart(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(result["sets"])
    fig, axes = plt.subplots(1, len(sets) + 1, figsize=(5 * (len(sets) + 1), 4.5))
    colours = plt.cm.tab10.colors
    for ax, set_name in zip(axes, sets):
        summ = result["sets"][set_name]["summary"]
        for i, (m, s) in enumerate(summ.items()):
            if "stage_mean_ms" in s:
                bottom = 0.0
                for k, stage in enumerate(C.STAGES):
                    v = s["stage_mean_ms"][stage]
                    ax.bar(i, v, bottom=bottom, color=colours[k], label=stage if i == 0 else None)
                    bottom += v
                ax.plot([i - 0.4, i + 0.4], [s["mean_ms"]] * 2, color="k", lw=1)
            else:
                ax.bar(i, s["mean_ms"], color="grey", label=m)
        ax.set_xticks(range(len(summ)), list(summ), rotation=15)
        ax.set_ylabel("mean ms / image (one process)")
        ax.set_title(f"{set_name}: 2000x1500 JPEG -> PNG")
        ax.legend(fontsize=7)
    enc = result["sets"][sets[0]]["encoders"]
    ax = axes[-1]
    if enc:
        ax.barh(list(enc), [v["median_ms"] for v in enc.values()], color="tab:blue")
        for y, v in enumerate(enc.values()):
            ax.text(v["median_ms"], y, f" {v['median_ms']:.0f} ms, {v['median_kb']:.0f} KB", va="center", fontsize=7)
        ax.set_xlabel("median ms (RGBA 2000x1500)")
        ax.set_title("PNG encoders")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu_chart(result: dict, path: Path) -> None:
    """CPU ms per image outside network passes, by stage, per set and method."""
    C.cpu_chart({name: {m: s.get("cpu") for m, s in r["summary"].items()} for name, r in result["sets"].items()}, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="images per set")
    ap.add_argument("--sets", default=",".join(C.SETS))
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"of {', '.join((*METHODS, *PRECISION_METHODS))}")
    ap.add_argument("--threads", type=int, default=0, help="ONNX intra-op threads for smallcut (0: all cores)")
    ap.add_argument("--opencv-threads", type=int, default=0,
                    help="OpenCV's threads (0: its default, all cores); 1 puts every resize and filter on the "
                         "stage's own thread, so that the CPU accounting counts all of it")
    ap.add_argument("--out", type=Path, default=OUT / "speed")
    ap.add_argument("--formats", action="store_true",
                    help="also the output formats on the same sets (python -m bench.formats: ms and bytes per format)")
    args = ap.parse_args(argv)
    if args.opencv_threads > 0:
        cv2.setNumThreads(args.opencv_threads)
    sets = {s: C.jpeg_set(s, args.n) for s in args.sets.split(",")}
    methods = tuple(args.methods.split(","))
    engine = C.load_engine(args.threads)
    session = C.rembg_session() if "rembg" in methods else None
    result = run_speed(sets, engine, session, methods, threads=args.threads)
    argv_text = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    C.write_outputs(args.out, result, report(result), chart, "speed.png", "python -m bench.speed " + argv_text,
                    more_charts={"cpu.png": cpu_chart})
    if args.formats:
        from . import formats

        formats.main(["--sets", args.sets, "--n", str(args.n), "--threads", str(args.threads)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

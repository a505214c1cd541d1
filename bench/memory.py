"""Peak memory of a worker-like process per input size: what one cutout of a large frame costs.

    python -m bench.memory [--mp 12,48,100,120] [--format jpeg|png] [--precision int8|fp32]

For each size, a fresh process (like a prefork child) loads the engine with the worker's settings,
notes its resident memory (the baseline: model, runtime, arena), then decodes and cuts out one
generated frame of that many megapixels, and reports its peak resident memory (ru_maxrss). The
frame is a smooth scene with a few objects, so the JPEG stays small like a real photo (a noise
frame would be a 100 MB file, unlike anything a catalog holds). Also printed: the header-based
estimate the worker's memory gate uses (smallcut.imagesize), to check it against the measurement.
Frames over the engine's `large_above_px` (16 MP) take its bounded-memory path (docs/engine.md).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

DEFAULT_MP = (12, 48, 100, 120)


def frame(mp: float, fmt: str) -> bytes:
    """A 4:3 frame of `mp` megapixels: gradient backdrop, a few discs and bars."""
    import numpy as np
    from PIL import Image, ImageDraw

    w = int((mp * 1e6 * 4 / 3) ** 0.5)
    h = int(mp * 1e6 // w)  # never above mp megapixels: 120 stays within SMALLCUT_MAX_PIXELS
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.empty((h, w, 3), np.uint8)
    base[..., 0] = (200 + 40 * y).astype(np.uint8)
    base[..., 1] = (190 + 50 * x).astype(np.uint8)
    base[..., 2] = 210
    im = Image.fromarray(base)
    del base
    draw = ImageDraw.Draw(im)
    for i, (cx, cy, r) in enumerate(((0.3, 0.5, 0.2), (0.7, 0.4, 0.08), (0.85, 0.8, 0.02))):
        draw.ellipse([(cx - r) * w, (cy - r) * h, (cx + r) * w, (cy + r) * h], fill=(40 + 60 * i, 30, 120 - 30 * i))
    draw.rectangle([0.1 * w, 0.85 * h, 0.5 * w, 0.9 * h], fill=(20, 90, 40))
    out = io.BytesIO()
    if fmt == "png":
        im.save(out, "PNG", compress_level=1)
    else:
        im.save(out, "JPEG", quality=90)
    return out.getvalue()


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def child(path: str) -> None:
    """One measurement in this process: baseline after the engine loads and cuts out a small frame,
    then the peak of one cutout of the file."""
    from smallcut.imagesize import probe
    from smallcut.settings import get_settings
    from workers.engine import Engine

    data = open(path, "rb").read()
    engine = Engine.from_settings(get_settings())
    engine.cutout(frame(0.3, "jpeg"))  # a small frame first: sessions, arenas and lazy builds in place
    baseline = rss_mb()
    head = probe(data)
    t0 = time.perf_counter()
    result = engine.cutout(data)
    took = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"width": head.width, "height": head.height, "input_mb": len(data) / 2**20,
                      "baseline_mb": baseline, "peak_mb": peak, "estimate_mb": head.cutout_bytes / 2**20,
                      "output_mb": len(result.png) / 2**20, "seconds": took}))


def measure(mp: float, fmt: str, env: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=f".{fmt}", delete=False) as fh:
        fh.write(frame(mp, fmt))
        path = fh.name
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.memory", "--child", path], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return {"mp": mp, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
        return {"mp": mp, **json.loads(proc.stdout.strip().splitlines()[-1])}
    finally:
        os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mp", default=",".join(str(m) for m in DEFAULT_MP), help="megapixels, comma-separated")
    p.add_argument("--format", choices=["jpeg", "png"], default="jpeg")
    p.add_argument("--precision", default=None, help="SMALLCUT_PRECISION for the measured process")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child)
        return 0
    env = {**os.environ, "SMALLCUT_PROVIDERS": os.environ.get("SMALLCUT_PROVIDERS", "CPUExecutionProvider")}
    if args.precision:
        env["SMALLCUT_PRECISION"] = args.precision
    print(f"{'MP':>5} {'size':>11} {'input':>8} {'baseline':>9} {'peak RSS':>9} {'cutout':>8} {'B/px':>5} "
          f"{'estimate':>9} {'s':>6}")
    for mp in (float(m) for m in args.mp.split(",") if m):
        r = measure(mp, args.format, env)
        if "error" in r:
            print(f"{mp:>5g} error: {r['error']}")
            continue
        above = r["peak_mb"] - r["baseline_mb"]
        px = r["width"] * r["height"]
        print(f"{mp:>5g} {r['width']:>5}x{r['height']:<5} {r['input_mb']:>6.1f}MB {r['baseline_mb']:>7.0f}MB "
              f"{r['peak_mb']:>7.0f}MB {above:>6.0f}MB {above * 2**20 / px:>5.1f} {r['estimate_mb']:>7.0f}MB "
              f"{r['seconds']:>6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the int8 build's activation ranges on real photos and write the file the package ships.

    python -m training.int8_ranges            # -> workers/engine/data/u2netp.int8-ranges.json
    python -m training.int8_ranges --model NAME --frame-side 256   # a retrained network in quantize.SHIPPED_RANGES

The engine feeds the network whole frames at 320² (coarse pass), tiles at 256² and zooms of small
objects at 160–224², so the ranges are measured on frames and zoom-like crops: for each of 60 ECSSD
development photos (a fixed draw from 0401–0800; 0001–0250 stay for checking the build), the whole
photo at 320² and a square crop around its object at 160² or 224². MinMax over those, as
`quantize_static` would calibrate; `workers/engine/quantize.py` builds from the file whenever the
model's weights are the ones it was measured on (their digest is in the file).

Why real photos: ranges calibrated on the synthetic sample frames (plain backdrops) cut real photos
worse, most of all their smaller objects; ranges from frames and crops as the network sees them
recover that. Adding a 256² tile per photo did not help, so tiles are left out. The comparison
(fp32, sample-frame ranges, these ranges) is in docs/engine.md, "Precision on the CPU".
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import cv2
import numpy as np

from bench.paths import ecssd_dir
from workers.engine import models, quantize
from workers.engine.net import normalise
from workers.engine.resample import resize

def photos(n: int, seed: int = 0) -> list[str]:
    """A fixed draw of `n` development photos from ECSSD 0401–0800."""
    names = [f"{i:04d}" for i in range(401, 801)]
    random.Random(seed).shuffle(names)
    return names[:n]


def feeds(names: list[str], spec: models.ModelSpec, seed: int = 0, frame_side: int | None = None) -> list[np.ndarray]:
    """Per photo: the whole frame at `frame_side` (default: the trained size), and a zoom-like crop
    around its object."""
    side_px = frame_side or spec.input_size
    rng = random.Random(seed)
    root = ecssd_dir()
    out = []
    for name in names:
        bgr = cv2.imread(str(root / "images" / f"{name}.jpg"))
        mask = cv2.imread(str(root / "masks" / f"{name}.png"), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None:
            raise SystemExit(f"ECSSD photo {name} not found under {root} (set BENCH_ECSSD_DIR)")
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        out.append(normalise(resize(rgb, (side_px, side_px)), spec)[None].copy())
        h, w = mask.shape
        ys, xs = np.nonzero(mask > 127)
        side = int(max(32, 0.5 * max(h, w) * rng.uniform(0.4, 1.0)))
        x0 = int(np.clip(xs.mean() - side / 2, 0, max(0, w - side)))
        y0 = int(np.clip(ys.mean() - side / 2, 0, max(0, h - side)))
        zoom = rng.choice([160, 224])
        out.append(normalise(resize(rgb[y0 : y0 + side, x0 : x0 + side], (zoom, zoom)), spec)[None].copy())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=60, help="photos (each gives a frame and a crop)")
    ap.add_argument("--model", default="u2netp", help="a registry model with an entry in quantize.SHIPPED_RANGES")
    ap.add_argument("--out", type=Path, default=None, help="default: the file the package ships for --model")
    ap.add_argument("--frame-side", type=int, default=None,
                    help="side of the whole-frame feeds (default: the trained size; 256, the tile side, for a close-pass network)")
    args = ap.parse_args(argv)

    from smallcut.settings import Settings

    import onnx

    if args.model not in quantize.SHIPPED_RANGES:
        raise SystemExit(f"{args.model!r} has no entry in quantize.SHIPPED_RANGES")
    args.out = args.out or Path(quantize.DATA_DIR) / quantize.SHIPPED_RANGES[args.model]
    spec, path = models.resolve(args.model, Settings().model_dir)
    frame_side = args.frame_side or spec.input_size
    command = f"python -m training.int8_ranges --model {args.model}" + (f" --frame-side {args.frame_side}" if args.frame_side else "")
    names = photos(args.n)
    # tensors no quantized op reads stay at (inf, -inf) in the calibrator; the build never uses them
    ranges = {k: v for k, v in quantize.measure_ranges(Path(path), feeds(names, spec, frame_side=frame_side)).items() if np.all(np.isfinite(v))}
    payload = {
        "model": spec.name,
        "weights_sha256": quantize.weights_digest(onnx.load(str(path))),
        "method": "MinMax",
        "source": f"ECSSD development photos ({len(names)} from 0401-0800): whole frames at {frame_side}², "
                  f"crops around the object at 160² / 224² ({command})",
    }
    lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(ranges.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=1)[:-2] + ',\n "ranges": {\n' + lines + "\n }\n}\n")
    print(f"{args.out}: {len(ranges)} tensors from {len(names)} photos")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

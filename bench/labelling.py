"""Connected-component labelling: the engine's masks, labelled by OpenCV's default and by the
algorithm the engine uses (workers/engine/labelling.py), same masks, same thread.

    python -m bench.labelling [--n 6] [--sets catalog,small-objects] [--rounds 3]

Runs the default engine over bench.speed's 2000x1500 frames once, keeping every mask it labels
(8-connected, with statistics), then times the two algorithms on those masks in alternating rounds
with one OpenCV thread (the engine's own calls are single masks of a few hundred thousand to three
million pixels; OpenCV threads would only blur the comparison). Prints ms per frame for each
round and checks that labels and statistics agree on every mask.
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np

from . import _common as C


def recorded_masks(engine, datas: list[bytes]) -> list[np.ndarray]:
    """Every mask the engine labels with statistics while cutting out `datas` (copies)."""
    from workers.engine import labelling

    masks: list[np.ndarray] = []
    real = labelling.components_with_stats

    def record(mask):
        masks.append(np.ascontiguousarray(mask).copy())
        return real(mask)

    patched = [m for name, m in sys.modules.items()
               if name.startswith("workers.engine.") and getattr(m, "components_with_stats", None) is real]
    for m in patched:
        m.components_with_stats = record
    try:
        for data in datas:
            engine.cutout(data)
    finally:
        for m in patched:
            m.components_with_stats = real
    return masks


def time_all(fn, masks: list[np.ndarray]) -> float:
    t0 = time.perf_counter()
    for m in masks:
        fn(m)
    return (time.perf_counter() - t0) * 1000.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.labelling", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6, help="frames per set")
    ap.add_argument("--sets", default="catalog,small-objects")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    from workers.engine.labelling import components_with_stats

    engine = C.load_engine(0)
    datas = [p.read_bytes() for s in args.sets.split(",") for p in C.jpeg_set(s, args.n)]
    cv2.setNumThreads(1)
    masks = recorded_masks(engine, datas)
    for m in masks:
        a, b = cv2.connectedComponentsWithStats(m, connectivity=8), components_with_stats(m)
        if a[0] != b[0] or not np.array_equal(a[1], b[1]) or not np.array_equal(a[2], b[2]):
            print(f"labels differ on a {m.shape} mask")
            return 1
    print(f"{len(masks)} masks from {len(datas)} frames ({sum(m.size for m in masks) / len(datas) / 1e6:.1f} Mpx per frame), "
          "identical labels and statistics; ms per frame:\n")
    print("| round | OpenCV default | engine (Grana) |")
    print("|---|---|---|")
    for r in range(args.rounds):
        default = time_all(lambda m: cv2.connectedComponentsWithStats(m, connectivity=8), masks)
        ours = time_all(components_with_stats, masks)
        print(f"| {r + 1} | {default / len(datas):.1f} | {ours / len(datas):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

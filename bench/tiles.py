"""Detection tiles: how much colour edge a tile of plain backdrop has vs a tile holding an object.

    python -m bench.tiles --set synth-dev [--limit N] [--level 30]

The check behind `EngineConfig.skip_calm_tiles`: per background, the strongest colour edge
(tiling.edge_strength at the engine's detection scale) of tiles with and without any ground-truth
object pixel, and how many tiles the level would skip (and whether any of them holds an object).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from workers.engine import tiling
from workers.engine.engine import EngineConfig

from . import datasets


def tile_peaks(rgb: np.ndarray, alpha: np.ndarray, cfg: EngineConfig | None = None) -> list[tuple[float, int]]:
    """(edge peak, object pixels) per detection tile of one frame, as the engine tiles it (default config)."""
    cfg = cfg or EngineConfig()
    h, w = rgb.shape[:2]
    edges = tiling.edge_strength_at(rgb, cfg.detect_side)
    out = []
    for b in tiling.tile_boxes(w, h, tiling.grid_for(h, w, cfg.tile_grid_max)):
        out.append((tiling.edge_peak(edges, b, (w, h)), int(np.count_nonzero(alpha[b.slices()] > 127))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tiles", description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="synth-dev", choices=datasets.SETS)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--level", type=float, default=EngineConfig().calm_edge)
    args = ap.parse_args(argv)
    rows: dict[str, list[tuple[float, int]]] = {}
    for item in datasets.items(args.set, args.limit):
        rows.setdefault(item.background, []).extend(tile_peaks(item.rgb, item.alpha))
    print(f"{args.set}: strongest colour edge per detection tile (level {args.level:g})\n")
    print("| background | tiles | empty: peak max | with objects: peak min | skipped | skipped holding an object |")
    print("|---|---|---|---|---|---|")
    for bg, tiles in sorted(rows.items()):
        empty = [p for p, n in tiles if n == 0]
        full = [p for p, n in tiles if n > 0]
        skipped = [(p, n) for p, n in tiles if p < args.level]
        print(f"| {bg} | {len(tiles)} | {max(empty):.0f} | {min(full):.0f} | {len(skipped)} | {sum(1 for _, n in skipped if n)} |"
              if empty and full else f"| {bg} | {len(tiles)} | - | - | {len(skipped)} | {sum(1 for _, n in skipped if n)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Build the catalog-judge set and, with --sheet, its contact sheet of 24 frames."""

from __future__ import annotations

import argparse
import sys
import time

from . import BASE_SEED, DEFAULT_N, build_set
from .sheet import contact_sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.judge", description=__doc__)
    ap.add_argument("--n", type=int, default=None, help=f"frames, twins on top (default: the set's count, {DEFAULT_N} for a new set)")
    ap.add_argument("--seed", type=int, default=BASE_SEED)
    ap.add_argument("--no-ecssd", action="store_true", help="procedural products only")
    ap.add_argument("--sheet", action="store_true", help="also write sheet.png (24 frames) in the set")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    def progress(i: int, n: int) -> None:
        if i % 20 == 0 or i == n:
            print(f"  {i}/{n} frames  {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)

    d = build_set(n=args.n, seed=args.seed, use_ecssd=False if args.no_ecssd else None, progress=progress)
    print(f"set in {d} ({time.perf_counter() - t0:.0f}s)")
    if args.sheet:
        print(f"wrote {contact_sheet(d)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A/B of one setting on the engine alone: the default vs `--env KEY=VALUE`, same images, same run.

    python -m bench.ab --env SMALLCUT_KEEP_FREED_MEMORY=false [--mix catalog] [--n 10] [--block 4]

Two single-process pools (all cores each), one per side, run alternating blocks of the same images
(the order flips every block), so a shared machine's drift cancels; a setting read when the engine
loads (allocator, precision, detection) differs between the pools. Prints images/s per side
(median of blocks) and the paired B/A ratio per block.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys

from . import _common as C
from . import throughput


def _init(env: dict) -> None:
    os.environ.update(env)
    throughput._init(0)


def _memory() -> dict:
    """This process's peak and current resident memory (MB)."""
    import resource

    with open("/proc/self/statm") as f:
        now = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10, "rss_mb": now}


def ab(paths, env: dict, block: int = 4) -> dict:
    pools = {}
    try:
        for name, side_env in (("A (default)", {}), ("B (" + " ".join(f"{k}={v}" for k, v in env.items()) + ")", env)):
            pool = mp.get_context("spawn").Pool(1, initializer=_init, initargs=(side_env,))
            pool.map(throughput._cut, [str(paths[0])], chunksize=1)  # warm-up
            pools[name] = pool
        rates, _ = throughput.alternate(pools, paths, block)
        memory = {name: pool.apply(_memory) for name, pool in pools.items()}
    finally:
        for pool in pools.values():
            pool.terminate()
    a, b = list(rates)
    return {"images": len(paths), "block": block, "sides": {k: {"images_per_s_median": round(C.median(v), 3), "blocks": [round(x, 3) for x in v], **memory[k]}
                                                           for k, v in rates.items()},
            "ratio_b_over_a_median": round(C.median([y / x for x, y in zip(rates[a], rates[b])]), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    ap.add_argument("--env", action="append", required=True, metavar="KEY=VALUE")
    ap.add_argument("--mix", default="catalog", choices=throughput.MIXES)
    ap.add_argument("--n", type=int, default=10, help="images per set, as bench.throughput (2n in all)")
    ap.add_argument("--block", type=int, default=4)
    args = ap.parse_args(argv)
    env = dict(pair.split("=", 1) for pair in args.env)
    r = ab(throughput.inputs(args.n, args.mix), env, args.block)
    print(f"{r['images']} JPEGs 2000x1500 ({args.mix}), blocks of {r['block']}, load {C.load()['load_avg_1_5_15']}\n")
    print(C.table([[k, v["images_per_s_median"], v["peak_rss_mb"], v["rss_mb"], " ".join(map(str, v["blocks"]))] for k, v in r["sides"].items()],
                  ["side", "images/s (median of blocks)", "peak RSS MB", "RSS MB at the end", "per block"]))
    print(f"\nB / A, paired by block (median): {r['ratio_b_over_a_median']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

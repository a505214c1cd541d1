"""`smallcut stack up [--workers N]` / `smallcut stack down`: a local stack for development.

`up` starts a Redis-protocol server, moto's S3 server (with the buckets) and N workers in the
background, then prints the `export SMALLCUT_...=` lines that point other commands at them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_DIR = Path(".smallcut") / "stack"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    up = sub.add_parser("up", help="start servers and workers in the background")
    up.add_argument("--workers", type=int, default=1, help="worker processes to start (0: servers only)")
    up.add_argument("--concurrency", type=int, default=1, help="prefork children per worker")
    up.add_argument("--buckets", default="catalog,cutouts", help="buckets to create")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state and log folder")
    down = sub.add_parser("down", help="stop what `stack up` started")
    down.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state and log folder")


def create_buckets(env: dict[str, str], buckets: list[str]) -> None:
    from smallcut.settings import Settings
    from smallcut.storage import make_client

    s = Settings(**{k.removeprefix("SMALLCUT_").lower(): v for k, v in env.items()})
    client = make_client(s)
    for b in buckets:
        client.create_bucket(Bucket=b)


def run(args: argparse.Namespace) -> int:
    import sys

    from . import localstack

    if args.action == "down":
        stopped = localstack.down(args.dir)
        print(f"stopped: {', '.join(stopped)}" if stopped else f"no stack recorded in {args.dir}", file=sys.stderr)
        return 0
    try:
        state = localstack.up(args.dir, workers=args.workers, concurrency=args.concurrency)
    except localstack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        create_buckets(state.env, [b for b in args.buckets.split(",") if b])
        if args.workers:
            localstack.wait_for_workers(state.env["SMALLCUT_REDIS_URL"], args.workers, timeout=180,
                                        pids=[p for n, p in state.pids.items() if n.startswith("worker")])
    except BaseException as exc:
        localstack.down(args.dir)
        print(f"error: {exc} (logs in {state.dir})", file=sys.stderr)
        return 1
    print(f"# stack up: logs and state in {Path(state.dir)}; stop with `smallcut stack down`", file=sys.stderr)
    print(localstack.export_lines({**state.env, "SMALLCUT_API_SCRATCH": f"s3://{args.buckets.split(',')[0]}/_api"}))
    return 0

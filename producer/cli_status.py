"""`smallcut status BATCH_ID | s3://bucket/key [--json]`."""

from __future__ import annotations

import argparse

from .cli_common import guarded
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", help="a batch id, or s3://bucket/key of one object")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--failures", type=int, default=20, help="failed objects to list for a batch")


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from smallcut.keys import object_id, parse_s3_url
    from smallcut.settings import get_settings
    from smallcut.status import StatusStore

    from . import report

    status = StatusStore.from_settings(get_settings())
    console = Console()
    if args.target.startswith("s3://"):
        url = parse_s3_url(args.target)
        obj = status.get_object(object_id(url.bucket, url.key))
        if obj is None:
            print(json.dumps(None)) if args.json else console.print(f"no status for {args.target}")
            return 1
        if args.json:
            print(json.dumps(obj))
            return 0
        table = Table(title=args.target, show_header=False)
        for k in sorted(obj):
            table.add_row(k, json.dumps(obj[k]) if isinstance(obj[k], dict) else str(obj[k]))
        console.print(table)
        return 0
    summary = status.get_batch(args.target)
    if summary is None:
        print(json.dumps(None)) if args.json else console.print(f"no batch {args.target}")
        return 1
    failed = report.failures(status, args.target, args.failures)
    if args.json:
        print(json.dumps({**summary.as_dict(), "failures": failed}))
    else:
        console.print(report.summary_table(summary, failed))
    return 0


run = guarded(_run)

"""`smallcut demo [--out DIR]`: the whole pipeline on this machine, no configuration.

Starts a local Redis-protocol server, moto's S3 server and one worker; uploads generated catalog
samples; enqueues them as one batch; shows progress; downloads the cutouts; prints a summary; stops
everything (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
from pathlib import Path

IN_BUCKET, OUT_BUCKET, IN_PREFIX, OUT_PREFIX = "catalog", "cutouts", "samples/", "demo"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="folder for the PNG cutouts")
    p.add_argument("--count", type=int, default=None, help="number of sample images (default: all 8)")
    p.add_argument("--concurrency", type=int, default=1, help="worker processes")
    p.add_argument("--timeout", type=float, default=900, help="give up after this many seconds")


def run(args: argparse.Namespace) -> int:
    import os
    import sys
    import tempfile
    import time

    from rich.console import Console

    from producer import report
    from producer.enqueue import Request, enqueue
    from smallcut import localstack, samples
    from smallcut.cli_stack import missing_local_extra
    from smallcut.keys import S3Url
    from smallcut.settings import Settings
    from smallcut.status import StatusStore
    from smallcut.storage import iter_objects, make_client

    import signal

    def _terminate(_signum, _frame):
        raise KeyboardInterrupt  # run the cleanup below on SIGTERM too

    problem = missing_local_extra()
    if problem:  # say so here, not as "No module named moto" in a server log after a timeout
        print(f"error: smallcut demo: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    console = Console()
    workdir = Path(tempfile.mkdtemp(prefix="smallcut-demo-"))
    t0 = time.monotonic()
    extra = {"SMALLCUT_ALLOWED_BUCKETS": f"{IN_BUCKET},{OUT_BUCKET}", "SMALLCUT_QUEUE": "cpu"}
    try:
        with console.status("starting a local Redis-protocol server, S3 server and worker"):
            state = localstack.up(workdir, workers=1, concurrency=args.concurrency, worker_env=extra)
            env = {**state.env, **extra}
            os.environ.update(env)  # this process and anything it starts use the local stack
            settings = Settings()
            s3 = make_client(settings)
            for b in (IN_BUCKET, OUT_BUCKET):
                s3.create_bucket(Bucket=b)
            images = samples.generate(args.count)
            for name, data in images:
                s3.put_object(Bucket=IN_BUCKET, Key=IN_PREFIX + name, Body=data, ContentType="image/jpeg")
            localstack.wait_for_workers(env["SMALLCUT_REDIS_URL"], 1, timeout=180,
                                        pids=[state.pids["worker1"]])
        console.print(f"local stack up in {time.monotonic() - t0:.1f}s; {len(images)} sample images in "
                      f"s3://{IN_BUCKET}/{IN_PREFIX}")

        from smallcut.celery_config import make_producer_app

        celery_app = make_producer_app(settings)
        status = StatusStore.from_settings(settings)
        req = Request(source=S3Url(IN_BUCKET, IN_PREFIX), out_bucket=OUT_BUCKET, out_prefix=OUT_PREFIX,
                      in_prefix=IN_PREFIX, queue="cpu", chunk_size=4)
        result = enqueue(req, settings=settings, status=status, s3=s3, celery_app=celery_app)
        console.print(f"batch {result.batch}: {result.queued} queued")
        summary = report.wait(status, result.batch, show=True, timeout=args.timeout)

        args.out.mkdir(parents=True, exist_ok=True)
        written = []
        for obj in iter_objects(s3, OUT_BUCKET, OUT_PREFIX + "/"):
            target = args.out / Path(obj["Key"]).name
            target.write_bytes(s3.get_object(Bucket=OUT_BUCKET, Key=obj["Key"])["Body"].read())
            written.append(target)
        console.print(report.summary_table(summary, report.failures(status, result.batch)))
        timings = [status.get_object(f"{IN_BUCKET}/{IN_PREFIX}{n}") or {} for n, _ in images]
        per_image = [sum(t.get("timings", {}).values()) for t in timings if t.get("timings")]
        if per_image:
            console.print(f"per image: {sum(per_image) / len(per_image):.0f} ms on average (download, engine, upload)")
        console.print(f"{len(written)} cutouts in {args.out}/")
        ok = summary.is_finished and summary.done == len(images) and len(written) == len(images)
        if not ok:
            console.print(f"[red]demo incomplete[/] (logs: {workdir})")
        return 0 if ok else 1
    except KeyboardInterrupt:
        return 130
    except localstack.StackError as exc:
        print(f"error: {exc} (logs: {workdir})", file=sys.stderr)
        return 1
    finally:
        localstack.down(workdir)

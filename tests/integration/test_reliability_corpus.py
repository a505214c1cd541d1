"""The hostile/odd corpus as one batch through the suite's real worker process (moto S3, real Redis):
every key ends `done` with a right-size PNG or `failed` with its reason, no worker process dies, and
the worker's memory stays bounded (peak RSS of every process, read from /proc).

Whole-frame pass only (--no-roi): the tiled detection path of every file is covered at engine level
(tests/unit/test_reliability_corpus.py); here decode, full-resolution post-processing, encode, upload
and status run in the worker, which is where memory peaks (the 9000x6000 JPEG)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from tests.corpus import build

from .conftest import IN_BUCKET, OUT_BUCKET, last_json_line, smallcut

pytestmark = pytest.mark.integration

PREFIX, OUT_PREFIX = "corpus/", "corpus-out"
RSS_BOUND_MB = 2500


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever had (kB in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


def test_corpus_batch_ends_done_or_failed_with_reason(worker, env, s3, status):
    cases = {c.name: c for c in build()}
    for c in cases.values():
        s3.put_object(Bucket=IN_BUCKET, Key=PREFIX + c.name, Body=c.data, ContentType=c.content_type)
    before = children(worker.pid)
    assert before, "the prefork worker has children"

    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/{PREFIX}", "--out", f"s3://{OUT_BUCKET}/{OUT_PREFIX}", "--wait",
                    "--json", "--chunk-size", "3", "--no-roi", "--timeout", "600", timeout=660)
    summary = last_json_line(proc.stdout)
    refused = {n for n, c in cases.items() if c.refuse}
    assert summary["total"] == len(cases) and summary["is_finished"], summary
    assert (summary["done"], summary["failed"]) == (len(cases) - len(refused), len(refused)), summary

    for name, case in cases.items():
        obj = status.get_object(f"{IN_BUCKET}/{PREFIX}{name}")
        out_key = f"{OUT_PREFIX}/{Path(name).with_suffix('.png')}"
        if case.refuse:
            assert obj["state"] == "failed" and case.refuse.lower() in obj["error"].lower(), (name, obj)
            assert "internal error" not in obj["error"]
            assert s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=out_key).get("KeyCount", 0) == 0
        else:
            assert obj["state"] == "done" and (int(obj["width"]), int(obj["height"])) == case.size, (name, obj)
            png = Image.open(io.BytesIO(s3.get_object(Bucket=OUT_BUCKET, Key=out_key)["Body"].read()))
            assert png.format == "PNG" and png.mode == "RGBA" and png.size == case.size, name
            png.load()

    assert worker.poll() is None, "the worker process is alive"
    assert children(worker.pid) == before, "no child process died (a crash would have been replaced)"
    peaks = {pid: peak_rss_mb(pid) for pid in [worker.pid, *before]}
    print(f"\npeak RSS per worker process (MB): {', '.join(f'{p}: {m:.0f}' for p, m in peaks.items())}")
    assert max(peaks.values()) < RSS_BOUND_MB, peaks

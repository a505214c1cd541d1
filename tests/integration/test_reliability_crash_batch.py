"""A whole worker SIGKILLed in the middle of a 104-image batch, then a fresh worker started.

Nothing is lost (every key ends done, or skipped when a redelivered chunk finds its output already
current), nothing is written twice or half (exactly one decodable PNG per input, made from that
input's ETag), and the batch counters agree. Tiny images and a whole-frame pass keep it quick.
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

from .conftest import IN_BUCKET, OUT_BUCKET, running_worker, smallcut
from .test_pipeline_durability import own_stack  # noqa: F401 - the fixture, reused

pytestmark = pytest.mark.integration

N, PREFIX, OUT_PREFIX = 104, "crashbatch/", "crashbatch-out"
# longer than a chunk takes on a busy machine (a shorter one redelivers chunks still running), short
# enough that the killed worker's messages come back quickly
VISIBILITY = 30


def test_worker_killed_mid_batch_loses_and_duplicates_nothing(own_stack):  # noqa: F811
    from tests.corpus import save, scene

    state, env, settings, s3, status, _ = own_stack
    env = {**env, "SMALLCUT_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    for i in range(N):
        s3.put_object(Bucket=IN_BUCKET, Key=f"{PREFIX}{i:03d}.jpg", Body=save(Image.fromarray(scene(64, 48, i)), "JPEG"))
    with running_worker(env, Path(state.dir), "crash-first", concurrency=2, queues="cpu") as first:
        proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/{PREFIX}", "--out", f"s3://{OUT_BUCKET}/{OUT_PREFIX}",
                        "--chunk-size", "8", "--no-roi", "--json")
        assert proc.returncode == 0, proc.stderr
        batch = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]["batch"]

        deadline = time.monotonic() + 180
        while status.get_batch(batch).completed < N // 4:  # a quarter done: chunks in flight, most still queued
            assert time.monotonic() < deadline, status.get_batch(batch)
            time.sleep(0.1)
        os.killpg(first.pid, signal.SIGKILL)  # main process and children: no warm shutdown, no acks
        first.wait(timeout=30)
    at_kill = status.get_batch(batch)
    assert at_kill.completed < N

    with running_worker(env, Path(state.dir), "crash-second", concurrency=2, queues="cpu"):
        deadline = time.monotonic() + VISIBILITY * 4 + 240
        while not status.get_batch(batch).is_finished:
            assert time.monotonic() < deadline, status.get_batch(batch)
            time.sleep(0.5)

    summary = status.get_batch(batch)
    assert summary.failed == 0 and summary.done + summary.skipped == N and summary.queued == summary.processing == 0
    redelivered = 0
    for i in range(N):
        key = f"{PREFIX}{i:03d}.jpg"
        obj = status.get_object(f"{IN_BUCKET}/{key}")
        assert obj["state"] in ("done", "skipped"), obj
        if obj["state"] == "skipped" or int(obj["attempts"]) > 1:
            redelivered += 1
        out = s3.get_object(Bucket=OUT_BUCKET, Key=f"{OUT_PREFIX}/{key[len(PREFIX):-4]}.png")
        assert out["Metadata"]["source-etag"] == s3.head_object(Bucket=IN_BUCKET, Key=key)["ETag"].strip('"')
        png = Image.open(io.BytesIO(out["Body"].read()))
        png.load()  # the whole stream decodes: not truncated
        assert png.mode == "RGBA" and png.size == (64, 48)
    outputs = [o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=f"{OUT_PREFIX}/")["Contents"]]
    assert len(outputs) == N  # one object per input, nothing else (no temporary or partial objects)
    assert redelivered >= 1, "the kill interrupted work in flight, which ran again"
    print(f"\nkilled at {at_kill.completed}/{N} finished; {redelivered} keys delivered again; "
          f"{summary.done} done + {summary.skipped} skipped (output already current)")

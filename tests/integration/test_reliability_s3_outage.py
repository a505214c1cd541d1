"""An S3 outage longer than botocore's own retries, through the fault proxy, seen by a real worker.

The retry budget is a setting (SMALLCUT_RETRY_BUDGET, 600 s by default: a 5-minute outage is sat
out). Here it is scaled down to 20 s with a 0.5 s backoff capped at 2 s, so that an 8 s outage ends
`done` without `retry-failed`, and an outage that never ends fails with the reason once the budget
is spent, instead of a fixed number of tries that covers under a minute.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image


from .conftest import ALLOWED, IN_BUCKET, OUT_BUCKET, running_worker, wait_for_object

pytestmark = pytest.mark.integration

QUEUE, BUDGET, OUTAGE = "outage", 20, 8.0


@pytest.fixture(scope="module")
def outage_worker(stack, env, proxy, s3):
    worker_env = {**env, "SMALLCUT_S3_ENDPOINT_URL": proxy.url, "SMALLCUT_ALLOWED_BUCKETS": ALLOWED,
                  "SMALLCUT_RETRY_BACKOFF": "0.5", "SMALLCUT_RETRY_BACKOFF_MAX": "2",
                  "SMALLCUT_RETRY_BUDGET": str(BUDGET), "SMALLCUT_MAX_RETRIES": "100"}
    with running_worker(worker_env, Path(stack.dir), "outageworker", concurrency=1, queues=QUEUE) as proc:
        yield proc


def send(celery_app, status, batch: str, keys: list[str]) -> None:
    from workers.celery_app import TASK_CHUNK

    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, k) for k in keys])
    celery_app.send_task(TASK_CHUNK, args=[{"batch": batch, "bucket": IN_BUCKET, "keys": keys, "out_bucket": OUT_BUCKET,
                                            "out_prefix": "outage-out"}], queue=QUEUE)


def tiny_jpeg(seed: int) -> bytes:
    from tests.corpus import save, scene

    return save(Image.fromarray(scene(96, 72, seed)), "JPEG")


def test_an_outage_within_the_budget_ends_done(outage_worker, proxy, s3, status, celery_app):
    keys = [f"outage/short-{i}.jpg" for i in range(3)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=IN_BUCKET, Key=key, Body=tiny_jpeg(i))
    proxy.inject("slowdown", 10**6, path_contains="outage")  # every request, GET and PUT: S3 is down
    ends = threading.Timer(OUTAGE, proxy.clear)
    ends.start()
    try:
        send(celery_app, status, "outage-short", keys)
        objs = {k: wait_for_object(status, f"{IN_BUCKET}/{k}", timeout=120) for k in keys}
    finally:
        ends.cancel()
        proxy.clear()
    for key, obj in objs.items():
        assert obj["state"] == "done", (key, obj.get("error"), obj.get("attempts"))
        assert int(obj["attempts"]) >= 2  # botocore's own retries alone did not cover the outage
        assert s3.head_object(Bucket=OUT_BUCKET, Key=f"outage-out/{key[:-4]}.png")["ContentLength"] > 0
    assert status.get_batch("outage-short").failed == 0


def test_an_outage_beyond_the_budget_fails_with_the_reason(outage_worker, proxy, s3, status, celery_app):
    key = "outage/endless.jpg"
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=tiny_jpeg(7))
    proxy.inject("slowdown", 10**6, path_contains=key)
    try:
        t0 = time.monotonic()
        send(celery_app, status, "outage-endless", [key])
        obj = wait_for_object(status, f"{IN_BUCKET}/{key}", timeout=BUDGET + 90)
        took = time.monotonic() - t0
    finally:
        proxy.clear()
    assert obj["state"] == "failed" and obj["error"].startswith("gave up after ") and "SlowDown" in obj["error"], obj
    assert int(obj["attempts"]) >= 3
    assert took >= BUDGET * 0.75  # retried for about the budget, not a fixed handful of tries
    assert any(d["key"] == key for d in status.dead_letters(50))

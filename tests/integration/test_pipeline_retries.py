"""Transient storage errors are retried with a bound, then dead-lettered; worker crashes requeue work.

The pipeline runs in this process against the suite's Redis and an S3 endpoint where nothing listens
(a real refused connection); the crash test SIGKILLs a real prefork child in the middle of a task.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from smallcut import localstack
from smallcut.storage import make_client
from workers.pipeline import Context, run_job

from .conftest import IN_BUCKET, OUT_BUCKET, wait_for_object

pytestmark = pytest.mark.integration


@pytest.fixture()
def unreachable_s3(settings):
    return make_client(settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{localstack.free_port()}"}))


def run(settings, status, s3, engine, batch: str, retries: int, since: float | None = None, key: str = "down/a.jpg"):
    job = {"batch": batch, "bucket": IN_BUCKET, "keys": [key], "out_bucket": OUT_BUCKET, "out_prefix": "cut"}
    ctx = Context(settings=settings, status=status, s3=s3, engine_getter=lambda: engine, worker="test:1", retries=retries,
                  retry_since=since or time.time())
    return run_job(job, ctx)


def test_transient_errors_retry_then_dead_letter(settings, status, unreachable_s3, engine):
    batch = "retry-bound"
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, "down/a.jpg")])
    outcome = run(settings, status, unreachable_s3, engine, batch, retries=0)
    assert outcome.retry == ["down/a.jpg"]
    obj = status.get_object(f"{IN_BUCKET}/down/a.jpg")
    assert obj["state"] == "queued" and obj["error"].startswith("retry 1 in "), obj
    assert 0 < outcome.countdown <= settings.retry_backoff

    outcome = run(settings, status, unreachable_s3, engine, batch, retries=settings.max_retries)
    assert outcome.retry == []
    obj = status.get_object(f"{IN_BUCKET}/down/a.jpg")
    assert obj["state"] == "failed" and obj["error"].startswith(f"gave up after {settings.max_retries + 1} tries")
    assert obj["attempts"] == 2
    assert status.dead_letters(1)[0]["key"] == "down/a.jpg"
    assert status.get_batch(batch).failed == 1


def test_retries_end_when_the_time_budget_is_spent(settings, status, unreachable_s3, engine):
    """Few tries so far, but the first one began longer ago than the budget: the key fails now."""
    batch, key = "retry-budget", "down/b.jpg"
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, key)])
    outcome = run(settings, status, unreachable_s3, engine, batch, retries=1, key=key,
                  since=time.time() - settings.retry_budget - 1)
    assert outcome.retry == []
    obj = status.get_object(f"{IN_BUCKET}/{key}")
    assert obj["state"] == "failed" and obj["error"].startswith("gave up after 2 tries in "), obj
    assert int(obj["error"].split(" in ")[1].split(" s")[0]) >= settings.retry_budget


def test_killed_child_requeues_its_task(s3, worker, status, celery_app):
    """acks_late + reject_on_worker_lost: the message of a SIGKILLed child runs again, the key ends done."""
    from smallcut import samples
    from smallcut.status import State
    from workers.celery_app import TASK_KEY

    name, data = samples.generate(2)[1]  # a full-size 1600x1200 scene: seconds of work on one thread
    key = f"crash/{name}"
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=data)
    batch = "crash-child"
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, key)])
    celery_app.send_task(TASK_KEY, args=[{"batch": batch, "bucket": IN_BUCKET, "key": key, "out_bucket": OUT_BUCKET,
                                          "out_prefix": "crash-out"}], queue="cpu")
    obj = wait_for_object(status, f"{IN_BUCKET}/{key}", states=(State.PROCESSING.value,), timeout=60)
    child = int(obj["worker"].rsplit(":", 1)[1])
    assert child != worker.pid
    time.sleep(0.3)  # inside the engine by now
    os.kill(child, signal.SIGKILL)
    obj = wait_for_object(status, f"{IN_BUCKET}/{key}", timeout=120)
    assert obj["state"] == "done" and obj["attempts"] == 2
    assert int(obj["worker"].rsplit(":", 1)[1]) != child
    assert s3.head_object(Bucket=OUT_BUCKET, Key=f"crash-out/crash/{name.replace('.jpg', '.png')}")
    assert all(count == 1 for count in status.model_loads().values())  # the replacement child loaded once


@pytest.mark.parametrize("budget, gated", [(1, True), (0, False), (10**12, False)])
def test_images_above_the_memory_budget_take_the_large_image_slot(settings, status, s3, engine, budget, gated):
    """The gate is decided from the header before decoding; a gated key records its wait."""
    import io

    from PIL import Image

    key = f"gate/{budget}.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 40)).save(buf, "JPEG")
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=buf.getvalue())
    batch = f"memory-gate-{budget}"
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, key)])
    job = {"batch": batch, "bucket": IN_BUCKET, "keys": [key], "out_bucket": OUT_BUCKET, "out_prefix": "gate",
           "force": True}
    ctx = Context(settings=settings.model_copy(update={"image_memory_budget": budget}), status=status, s3=s3,
                  engine_getter=lambda: engine, worker="test:1")
    assert run_job(job, ctx).retry == []
    obj = status.get_object(f"{IN_BUCKET}/{key}")
    assert obj["state"] == "done", obj
    assert ("memory_wait" in obj["timings"]) is gated

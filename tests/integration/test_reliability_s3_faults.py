"""S3 faults through a fault proxy in front of the suite's moto server, seen by a real worker process.

Transient faults (503 SlowDown, connection resets, delays) are retried (botocore's own bounded
retries, then the task's backoff) and the key ends `done` with one output; permanent ones (403
AccessDenied, missing key, NoSuchBucket) end `failed` with the reason after exactly one request. The
proxy counts every request, so a retry storm would show.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image


from .conftest import ALLOWED, IN_BUCKET, OUT_BUCKET, running_worker, wait_for_object

pytestmark = pytest.mark.integration

QUEUE, GHOST = "faults", "ghost-bucket"  # a queue of its own; an allowed bucket that does not exist
BOTO_ATTEMPTS = 4  # storage.make_client: botocore standard mode, max_attempts=3 retries = 4 attempts per call
MAX_RETRIES = 2


@pytest.fixture(scope="module")
def proxied_worker(stack, env, proxy, s3):
    """A real worker whose S3 endpoint is the proxy, on its own queue."""
    worker_env = {**env, "SMALLCUT_S3_ENDPOINT_URL": proxy.url, "SMALLCUT_ALLOWED_BUCKETS": f"{ALLOWED},{GHOST}",
                  "SMALLCUT_RETRY_BACKOFF": "0.2", "SMALLCUT_MAX_RETRIES": str(MAX_RETRIES)}
    # the suite's worker may answer the ping too; tasks wait on QUEUE for this one in any case
    with running_worker(worker_env, Path(stack.dir), "faultworker", concurrency=1, queues=QUEUE) as proc:
        yield proc


def tiny_jpeg(seed: int) -> bytes:
    from tests.corpus import save, scene

    return save(Image.fromarray(scene(96, 72, seed)), "JPEG")


def run_keys(celery_app, status, batch: str, keys: list[str], bucket: str = IN_BUCKET) -> dict[str, dict]:
    from workers.celery_app import TASK_CHUNK

    status.create_batch(batch, {})
    status.mark_queued(batch, [(bucket, k) for k in keys])
    celery_app.send_task(TASK_CHUNK, args=[{"batch": batch, "bucket": bucket, "keys": keys, "out_bucket": OUT_BUCKET,
                                            "out_prefix": "faults-out"}], queue=QUEUE)
    return {k: wait_for_object(status, f"{bucket}/{k}", timeout=180) for k in keys}


def test_transient_faults_are_retried_and_end_done(proxied_worker, proxy, s3, status, celery_app):
    keys = {"faults/slow.jpg": "slowdown", "faults/reset.jpg": "reset", "faults/late.jpg": "delay",
            "faults/put-slow.jpg": "slowdown"}
    for i, key in enumerate(keys):
        s3.put_object(Bucket=IN_BUCKET, Key=key, Body=tiny_jpeg(i))
    # more faults than botocore's attempts: the first task attempt fails, the task's retry succeeds
    proxy.inject("slowdown", BOTO_ATTEMPTS + 1, method="GET", path_contains="faults/slow.jpg")
    proxy.inject("reset", BOTO_ATTEMPTS, method="GET", path_contains="faults/reset.jpg")
    proxy.inject("delay", 1, method="GET", path_contains="faults/late.jpg", delay=2.0)
    proxy.inject("slowdown", BOTO_ATTEMPTS, method="PUT", path_contains="faults-out/faults/put-slow.png")

    objs = run_keys(celery_app, status, "faults-transient", list(keys))
    for key, obj in objs.items():
        assert obj["state"] == "done", (key, obj)
        out = s3.get_object(Bucket=OUT_BUCKET, Key=f"faults-out/{key[:-4]}.png")
        png = Image.open(io.BytesIO(out["Body"].read()))
        assert png.mode == "RGBA" and png.size == (96, 72)
        png.load()
    assert int(objs["faults/slow.jpg"]["attempts"]) == 2  # one task retry
    assert int(objs["faults/reset.jpg"]["attempts"]) == 2
    assert int(objs["faults/late.jpg"]["attempts"]) == 1  # a slow answer is not an error
    assert int(objs["faults/put-slow.jpg"]["attempts"]) == 2
    gets = lambda key: [s.outcome for s in proxy.requests("GET", f"/{IN_BUCKET}/{key}")]  # noqa: E731
    assert gets("faults/slow.jpg") == ["SlowDown"] * (BOTO_ATTEMPTS + 1) + ["200"]
    assert gets("faults/reset.jpg") == ["reset"] * BOTO_ATTEMPTS + ["200"]
    assert gets("faults/late.jpg") == ["delay 200"]
    puts = [s.outcome for s in proxy.requests("PUT", "faults-out/faults/put-slow.png")]
    assert puts == ["SlowDown"] * BOTO_ATTEMPTS + ["200"]  # one output written, once
    listed = s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="faults-out/faults/")["KeyCount"]
    assert listed == len(keys)


def test_endless_throttling_gives_up_after_a_bounded_number_of_requests(proxied_worker, proxy, s3, status, celery_app):
    key = "faults/always-slow.jpg"
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=tiny_jpeg(9))
    proxy.inject("slowdown", 1000, method="GET", path_contains=key)
    obj = run_keys(celery_app, status, "faults-endless", [key])[key]
    assert obj["state"] == "failed" and obj["error"].startswith(f"gave up after {MAX_RETRIES + 1} tries in "), obj
    assert ": SlowDown" in obj["error"]
    assert len(proxy.requests("GET", key)) == (MAX_RETRIES + 1) * BOTO_ATTEMPTS  # bounded: no storm
    assert any(d["key"] == key for d in status.dead_letters(50))


def test_permanent_errors_fail_once_with_the_reason(proxied_worker, proxy, s3, status, celery_app):
    denied, missing = "faults/denied.jpg", "faults/missing.jpg"
    s3.put_object(Bucket=IN_BUCKET, Key=denied, Body=tiny_jpeg(5))
    proxy.inject("deny", 1000, method="GET", path_contains=denied)
    objs = run_keys(celery_app, status, "faults-permanent", [denied, missing])
    assert objs[denied]["state"] == "failed" and objs[denied]["error"].startswith("AccessDenied"), objs[denied]
    assert objs[missing]["state"] == "failed" and "NoSuchKey" in objs[missing]["error"], objs[missing]
    ghost = run_keys(celery_app, status, "faults-nobucket", ["a.jpg"], bucket=GHOST)["a.jpg"]
    assert ghost["state"] == "failed" and "NoSuchBucket" in ghost["error"], ghost
    for bucket, key in ((IN_BUCKET, denied), (IN_BUCKET, missing), (GHOST, "a.jpg")):
        assert len(proxy.requests("GET", f"/{bucket}/{key}")) == 1, (key, proxy.requests(path_contains=key))
        assert int(status.get_object(f"{bucket}/{key}")["attempts"]) == 1
    dead = {d["key"] for d in status.dead_letters(50)}
    assert {denied, missing, "a.jpg"} <= dead

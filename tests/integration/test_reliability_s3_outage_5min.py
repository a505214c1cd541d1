"""S3 down for five minutes under the default retry settings, seen by a real worker: every key of the
batch ends `done` without `retry-failed`, each output is written exactly once, nothing is lost.

The outage starts mid-batch: the fault proxy in front of moto's S3 server resets the batch's first
output upload and stops listening, so the worker finds S3 gone with inputs downloaded and cut-outs
waiting to go up, and every new connection is refused for OUTAGE seconds (what a client sees of a
dead endpoint). Then the same port listens again. moto keeps its objects in memory only, so stopping
and restarting it would bring back an empty server, not the same S3; the proxy takes the endpoint
away while the objects stay where they were, as in a real outage.

The worker runs the shipped retry settings (SMALLCUT_RETRY_BUDGET 600 s, SMALLCUT_RETRY_BACKOFF 2 s
doubling up to SMALLCUT_RETRY_BACKOFF_MAX 120 s, SMALLCUT_MAX_RETRIES 30): the last try inside the
outage is followed by one at most 120 s after it ends. One test of about 6 minutes; it runs with
the rest of `make test`.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .conftest import IN_BUCKET, OUT_BUCKET, running_worker, settings_of, wait_for_object
from .test_reliability_s3_outage import tiny_jpeg

pytestmark = pytest.mark.integration

QUEUE, BATCH, KEYS = "outage-5min", "outage-5min", 4
OUTAGE = 300.0  # seconds the endpoint is gone
OUT_PREFIX = "outage5-out"
RETRY_SETTINGS = ("SMALLCUT_RETRY_BUDGET", "SMALLCUT_RETRY_BACKOFF", "SMALLCUT_RETRY_BACKOFF_MAX", "SMALLCUT_MAX_RETRIES")


@pytest.fixture
def default_retry_worker(stack, env, proxy, s3):
    """A worker on its own queue, through the proxy, with the retry settings a deployment ships with."""
    from smallcut.settings import Settings

    worker_env = {k: v for k, v in env.items() if k not in RETRY_SETTINGS}
    worker_env["SMALLCUT_S3_ENDPOINT_URL"] = proxy.url
    s = settings_of(worker_env)  # reads os.environ too, as the worker will
    for field in ("retry_budget", "retry_backoff", "retry_backoff_max", "max_retries"):
        assert getattr(s, field) == Settings.model_fields[field].default, f"{field} is not the default here"
    with running_worker(worker_env, Path(stack.dir), "outage5worker", concurrency=1, queues=QUEUE):
        yield s


def send(celery_app, status, keys: list[str]) -> None:
    """The batch as one chunk, to this test's worker."""
    from workers.celery_app import TASK_CHUNK

    status.create_batch(BATCH, {})
    status.mark_queued(BATCH, [(IN_BUCKET, k) for k in keys])
    celery_app.send_task(TASK_CHUNK, args=[{"batch": BATCH, "bucket": IN_BUCKET, "keys": keys, "out_bucket": OUT_BUCKET,
                                            "out_prefix": OUT_PREFIX}], queue=QUEUE)


@pytest.mark.timeout(1200)  # the outage, the retry after it (<= 120 s), a worker start on a busy machine
def test_s3_down_for_five_minutes_every_key_done_without_retry_failed(default_retry_worker, proxy, s3, status,
                                                                       celery_app):
    settings = default_retry_worker
    keys = [f"outage5/{i}.jpg" for i in range(KEYS)]
    outs = [f"{OUT_PREFIX}/{k[:-4]}.png" for k in keys]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=IN_BUCKET, Key=key, Body=tiny_jpeg(20 + i))  # straight to the server, not the proxy
    proxy.inject("outage", 1, method="PUT", path_contains=f"/{OUT_BUCKET}/{OUT_PREFIX}/outage5/")
    try:
        started = time.time()
        send(celery_app, status, keys)
        deadline = time.monotonic() + 180
        while not proxy.down:  # the first output upload brings the endpoint down
            assert time.monotonic() < deadline, [status.get_object(f"{IN_BUCKET}/{k}") for k in keys]
            time.sleep(0.05)
        down_at = time.time()
        seen_retrying = set()
        while time.time() < down_at + OUTAGE:
            for k in keys:
                obj = status.get_object(f"{IN_BUCKET}/{k}")
                assert obj["state"] not in ("done", "failed", "skipped"), (k, obj)  # nothing ends while S3 is gone
                if int(obj.get("attempts") or 0) >= 2:
                    seen_retrying.add(k)
            time.sleep(1.0)
    finally:
        proxy.come_up()
    up_at = time.time()
    budget_left = settings.retry_budget - (up_at - started)
    objs = {k: wait_for_object(status, f"{IN_BUCKET}/{k}", timeout=budget_left + 120) for k in keys}

    for key, obj in objs.items():
        assert obj["state"] == "done", (key, obj.get("error"), obj.get("attempts"))
        assert float(obj["finished_at"]) > up_at  # finished after the outage, by a retry
        assert int(obj["attempts"]) >= 3, obj  # tried again and again during the outage, not once at its end
    assert seen_retrying == set(keys)
    summary = status.get_batch(BATCH)
    assert (summary.done, summary.failed, summary.total) == (KEYS, 0, KEYS), summary
    dead = {d["key"] for d in status.dead_letters(200)}
    assert not dead & set(keys), dead
    # each output exactly once: one upload per output got through, and no stray or doubled objects
    listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=f"{OUT_PREFIX}/outage5/")["Contents"])
    assert listed == sorted(outs)
    for out in outs:
        stored = [r for r in proxy.requests("PUT", f"/{OUT_BUCKET}/{out}") if r.outcome == "200"]
        assert len(stored) == 1, (out, proxy.requests("PUT", f"/{OUT_BUCKET}/{out}"))
        assert s3.head_object(Bucket=OUT_BUCKET, Key=out)["ContentLength"] > 0
    for key in keys:  # the inputs outlived the outage
        assert s3.head_object(Bucket=IN_BUCKET, Key=key)["ContentLength"] > 0
    print(f"\nS3 down {OUTAGE:.0f} s; attempts {[int(o['attempts']) for o in objs.values()]}; "
          f"last key done {max(float(o['finished_at']) for o in objs.values()) - up_at:.0f} s after S3 came back")

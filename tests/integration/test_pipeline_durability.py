"""Durability with the Redis broker, on a stack of its own (it kills workers and restarts Redis):
- a whole worker SIGKILLed mid-task: its unacked message comes back after the visibility timeout and
  another worker finishes the key;
- Redis restarted under a running worker: the worker reconnects and takes new work.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from smallcut import localstack, samples
from smallcut.status import State

from .conftest import ALLOWED, IN_BUCKET, OUT_BUCKET, running_worker, wait_for_object

pytestmark = pytest.mark.integration

VISIBILITY = 6  # seconds: short so that the test sees the recovery


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("durable")
    state = localstack.up(workdir, workers=0)
    env = {**state.env, "SMALLCUT_ALLOWED_BUCKETS": ALLOWED, "SMALLCUT_QUEUE": "cpu", "SMALLCUT_INTRA_OP_THREADS": "1",
           "SMALLCUT_PROVIDERS": "CPUExecutionProvider", "SMALLCUT_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    from smallcut.settings import Settings
    from smallcut.status import StatusStore
    from smallcut.storage import make_client
    from workers.celery_app import make_app

    settings = Settings(_env_file=None, **{k.removeprefix("SMALLCUT_").lower(): v for k, v in env.items()})
    s3 = make_client(settings)
    for b in (IN_BUCKET, OUT_BUCKET):
        s3.create_bucket(Bucket=b)
    yield state, env, settings, s3, StatusStore.from_settings(settings), make_app(settings)
    localstack.down(workdir)


def worker(state, env, name):
    return running_worker(env, Path(state.dir), name, concurrency=1, queues="cpu")


def send(celery_app, status, s3, key: str, data: bytes, batch: str) -> None:
    from workers.celery_app import TASK_KEY

    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=data)
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, key)])
    celery_app.send_task(TASK_KEY, args=[{"batch": batch, "bucket": IN_BUCKET, "key": key, "out_bucket": OUT_BUCKET,
                                          "out_prefix": "durable"}], queue="cpu")


def test_whole_worker_killed_message_comes_back(own_stack):
    state, env, settings, s3, status, celery_app = own_stack
    name, data = samples.generate(1)[0]
    key = f"killed/{name}"
    with worker(state, env, "doomed") as first:
        send(celery_app, status, s3, key, data, "durable-kill")
        wait_for_object(status, f"{IN_BUCKET}/{key}", states=(State.PROCESSING.value,), timeout=60)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its child, no warm shutdown, no ack
        first.wait(timeout=30)
    with worker(state, env, "rescuer"):
        obj = wait_for_object(status, f"{IN_BUCKET}/{key}", timeout=VISIBILITY * 10)
        # at least once: the killed delivery plus the rescue (a slow rescue may be redelivered again)
        assert obj["state"] == "done" and obj["attempts"] >= 2
        assert s3.head_object(Bucket=OUT_BUCKET, Key=f"durable/killed/{name.replace('.jpg', '.png')}")


def test_worker_survives_a_redis_restart(own_stack):
    state, env, settings, s3, status, celery_app = own_stack
    with worker(state, env, "survivor"):
        localstack.stop(state.pids["redis"])
        time.sleep(1.0)
        state.pids["redis"] = localstack.start_redis(state.redis_port, Path(state.dir)).pid
        state.save()
        from smallcut.samples import scene
        import io

        buf = io.BytesIO()
        scene("ring", "gradient", ["ring"], seed=3, size=(400, 300)).save(buf, "JPEG")
        deadline = time.monotonic() + 60
        while True:  # the producer side reconnects too; retry the first publish until Redis answers
            try:
                send(celery_app, status, s3, "restart/after.jpg", buf.getvalue(), "durable-restart")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        obj = wait_for_object(status, f"{IN_BUCKET}/restart/after.jpg", timeout=120)
        assert obj["state"] == "done"


def test_time_limits_end_keys_failed_with_the_reason(own_stack):
    """Soft limit: the key being computed fails, the rest of the chunk goes back to the queue (and fails
    the same way here). Hard limit: the child is killed; the main process records the failure."""
    from workers.celery_app import TASK_CHUNK

    state, env, settings, s3, status, celery_app = own_stack
    import io

    def big(seed: int) -> bytes:  # 12 MP of wood grain: every detection tile runs, seconds of work on one thread
        buf = io.BytesIO()
        samples.scene("ring", "wood", ["ring", "ring"], seed=seed, size=(4000, 3000)).save(buf, "JPEG", quality=85)
        return buf.getvalue()

    images = [(f"big-{seed}.jpg", big(seed)) for seed in (5, 6, 7)]
    for name, data in images:
        s3.put_object(Bucket=IN_BUCKET, Key=f"limits/{name}", Body=data)
    keys = [f"limits/{name}" for name, _ in images]

    slow = {"SMALLCUT_PRECISION": "fp32", "SMALLCUT_INTRA_OP_THREADS": "1"}  # well over the 1 s limits on any CPU
    with worker(state, {**env, **slow, "SMALLCUT_SOFT_TIME_LIMIT": "1", "SMALLCUT_TIME_LIMIT": "60",
                        "SMALLCUT_RETRY_BACKOFF": "0.1", "SMALLCUT_MAX_RETRIES": "2"}, "soft"):
        status.create_batch("limits-soft", {})
        status.mark_queued("limits-soft", [(IN_BUCKET, k) for k in keys[:2]])
        celery_app.send_task(TASK_CHUNK, args=[{"batch": "limits-soft", "bucket": IN_BUCKET, "keys": keys[:2],
                                                "out_bucket": OUT_BUCKET, "out_prefix": "limits"}], queue="cpu")
        for key in keys[:2]:
            obj = wait_for_object(status, f"{IN_BUCKET}/{key}", timeout=60)
            assert obj["state"] == "failed" and obj["error"] == "soft time limit (1s) exceeded", obj

    with worker(state, {**env, **slow, "SMALLCUT_SOFT_TIME_LIMIT": "0", "SMALLCUT_TIME_LIMIT": "1"}, "hard") as hard:
        status.create_batch("limits-hard", {})
        status.mark_queued("limits-hard", [(IN_BUCKET, keys[2])])
        celery_app.send_task(TASK_CHUNK, args=[{"batch": "limits-hard", "bucket": IN_BUCKET, "keys": keys[2:],
                                                "out_bucket": OUT_BUCKET, "out_prefix": "limits"}], queue="cpu")
        obj = wait_for_object(status, f"{IN_BUCKET}/{keys[2]}", timeout=60)
        assert obj["state"] == "failed" and obj["error"] == "hard time limit (1s) exceeded", obj
        assert int(obj["worker"].rsplit(":", 1)[1]) == hard.pid  # recorded by the main process
        assert status.get_batch("limits-hard").failed == 1
    listed = s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="limits/").get("KeyCount", 0)
    assert listed == 0  # no partial outputs

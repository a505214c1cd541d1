"""Security of the worker's edges, against real processes:
- only JSON messages are accepted: a pickle message is refused, never deserialised or run;
- secrets (Redis password, S3 secret key) are never written to logs, on the success and error paths,
  by the worker (at DEBUG) or the producer.
Path traversal, unlisted buckets, event auth/size limits and Flower's auth are tested elsewhere
(test_keys, test_pipeline_bulk, test_pipeline_events, test_infra).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from smallcut import localstack

from .conftest import IN_BUCKET, OUT_BUCKET, smallcut, wait_for_object

pytestmark = pytest.mark.integration

REDIS_PASSWORD = "rEd1s-pa55-0f-the-suite"
S3_SECRET = "s3-5ecret-n0t-for-logs"


def test_pickle_message_is_refused(worker, stack, s3, status, celery_app):
    from smallcut import samples
    from workers.celery_app import TASK_KEY

    name, data = samples.generate(1)[0]
    for key in ("pickle/evil.jpg", "pickle/fine.jpg"):
        s3.put_object(Bucket=IN_BUCKET, Key=key, Body=data)
    status.create_batch("pickle", {})
    status.mark_queued("pickle", [(IN_BUCKET, "pickle/evil.jpg"), (IN_BUCKET, "pickle/fine.jpg")])
    job = {"batch": "pickle", "bucket": IN_BUCKET, "out_bucket": OUT_BUCKET, "out_prefix": "pickle-out"}
    celery_app.send_task(TASK_KEY, args=[{**job, "key": "pickle/evil.jpg"}], queue="cpu", serializer="pickle")
    celery_app.send_task(TASK_KEY, args=[{**job, "key": "pickle/fine.jpg"}], queue="cpu")
    assert wait_for_object(status, f"{IN_BUCKET}/pickle/fine.jpg", timeout=180)["state"] == "done"
    # sent first on the same queue: by now the worker has received the pickle message and refused it
    log = (Path(stack.dir) / "testworker.log").read_text(errors="replace")
    assert "Refusing to deserialize untrusted content of type pickle" in log
    evil = status.get_object(f"{IN_BUCKET}/pickle/evil.jpg")
    assert evil["state"] == "queued" and int(evil.get("attempts") or 0) == 0
    assert s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="pickle-out/pickle/evil").get("KeyCount", 0) == 0
    assert worker.poll() is None


def test_secrets_never_reach_the_logs(stack, env, s3, tmp_path):
    port = localstack.free_port()
    redis = subprocess.Popen([localstack.redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--requirepass", REDIS_PASSWORD, "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    secret_env = {**env, "SMALLCUT_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:{port}/0",
                  "SMALLCUT_S3_SECRET_ACCESS_KEY": S3_SECRET, "SMALLCUT_QUEUE": "secret"}
    worker = None
    try:
        localstack.wait_for_port(port, redis)
        from smallcut import samples

        s3.put_object(Bucket=IN_BUCKET, Key="secret/ok.jpg", Body=samples.generate(1)[0][1])
        s3.put_object(Bucket=IN_BUCKET, Key="secret/broken.jpg", Body=b"\xff\xd8\xff\xe0 not really")
        with open(tmp_path / "worker.log", "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "smallcut.cli", "worker", "--concurrency", "1", "--queues", "secret",
                 "--hostname", "secret@%h", "--loglevel", "DEBUG"], env={**os.environ, **secret_env},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        localstack.wait_for_workers(secret_env["SMALLCUT_REDIS_URL"], 1, timeout=180, pids=[worker.pid])
        proc = smallcut(secret_env, "enqueue", f"s3://{IN_BUCKET}/secret/", "--out", f"s3://{OUT_BUCKET}/secret-out",
                        "--wait", "--json", "--queue", "secret", "--timeout", "240")
        assert proc.returncode == 1 and '"done": 1' in proc.stdout and '"failed": 1' in proc.stdout, proc.stdout
        bad = smallcut({**secret_env, "SMALLCUT_REDIS_URL": f"redis://:{REDIS_PASSWORD}x@127.0.0.1:{port}/0"},
                       "status", "no-such-batch")  # a wrong password: the error path must not echo it either
        assert bad.returncode != 0
    finally:
        if worker is not None:
            localstack.stop(worker.pid)
            worker.wait(timeout=30)
        localstack.stop(redis.pid)
        redis.wait(timeout=30)
    texts = {"worker log": (tmp_path / "worker.log").read_text(errors="replace"),
             "enqueue output": proc.stdout + proc.stderr, "status error output": bad.stdout + bad.stderr}
    assert "secret/ok.jpg" in texts["worker log"] or "succeeded" in texts["worker log"]  # it did log its work
    for where, text in texts.items():
        for secret in (REDIS_PASSWORD, S3_SECRET):
            assert secret not in text, f"{secret!r} appears in the {where}"

"""Job messages end to end: retry-failed sends an API cut-out again with its caller's options and
output name; a message that is not a job fails the keys it names with the reason.

The API runs in-process on a status prefix of its own (the day's `api-` batch is then this test's
alone) and queues to a list no worker consumes; the jobs read back from the broker run through the
pipeline with the real engine, Redis and S3.
"""

from __future__ import annotations

import io
import secrets

import numpy as np
import pytest
from PIL import Image

from .api_fixtures import SCRATCH
from .conftest import IN_BUCKET, photo, settings_of, wait_for_object
from .test_api_options import queued_jobs

pytestmark = pytest.mark.integration


def counts(status, batch: str) -> tuple[int, int, int]:
    b = status.get_batch(batch)
    return b.queued, b.done, b.failed


def test_retry_failed_sends_an_api_cutout_again_with_its_options(env, status, s3, celery_app, engine):
    from fastapi.testclient import TestClient

    from producer.api import make_app
    from producer.api_cutout import api_batch_id
    from smallcut.job import Job
    from smallcut.status import StatusStore
    from workers.pipeline import Context, run_job

    queue = f"noworker-{secrets.token_hex(4)}"
    settings = settings_of({**env, "SMALLCUT_QUEUE": queue, "SMALLCUT_API_SCRATCH": SCRATCH,
                            "SMALLCUT_API_CUTOUT_TIMEOUT": "0.3"})
    own = StatusStore(status.r, status.ttl, prefix=f"smallcut:test-{secrets.token_hex(4)}:")
    ctx = Context(settings=settings, status=own, s3=s3, engine_getter=lambda: engine, worker="test:1")
    form = {"bg_color": "white", "roi": "false", "shadow": "keep"}
    with TestClient(make_app(settings, status=own, s3=s3, celery_app=celery_app)) as c:
        # another caller's cut-out on the same day's batch, with the defaults, which succeeds
        assert c.post("/v1/cutout", files={"file": ("ok.jpg", photo(41))}).status_code == 504
        r = c.post("/v1/cutout", files={"file": ("broken.jpg", b"\xff\xd8\xff\xe0 not really")}, data=form)
        assert r.status_code == 504, r.text  # nobody serves this queue: the jobs wait there
        jobs = queued_jobs(env["SMALLCUT_REDIS_URL"], queue)
        (first,) = [j for j in jobs if j["options"]["shadow"] == "keep"]
        (plain,) = [j for j in jobs if j is not first]
        assert first["options"] == {"roi": False, "postprocess": True, "mask_only": False, "bg_color": "white",
                                    "shadow": "keep"}
        assert run_job(plain, ctx).retry == [] and run_job(first, ctx).retry == []
        key = Job.from_message(first).keys[0]
        oid = f"{first['bucket']}/{key}"
        failed = own.get_object(oid)
        assert failed["state"] == "failed" and failed["error"], failed
        assert own.get_object(f"{plain['bucket']}/{Job.from_message(plain).keys[0]}")["state"] == "done"

        s3.put_object(Bucket=first["bucket"], Key=key, Body=photo(42))  # the caller fixed the upload
        batch = api_batch_id()
        assert counts(own, batch) == (0, 1, 1)
        r = c.post(f"/v1/batches/{batch}/retry-failed")
        assert r.json() == {"batch_id": batch, "queued": 1}, r.text
        (again,) = queued_jobs(env["SMALLCUT_REDIS_URL"], queue)
        # the same options, output location and force as the caller's request
        assert Job.from_message(again) == Job.from_message(first)
        assert counts(own, batch) == (1, 1, 0) and own.get_object(oid)["state"] == "queued"

        assert run_job(again, ctx).retry == []
        done = own.get_object(oid)
        assert done["state"] == "done" and counts(own, batch) == (0, 2, 0), done
        day, name = key.split("/")[-2:]
        assert done["output"] == f"{SCRATCH}/out/{day}/{name.rsplit('.', 1)[0]}.png"  # not under out/<prefix>/in/
        out_bucket, _, out_key = done["output"].removeprefix("s3://").partition("/")
        png = np.asarray(Image.open(io.BytesIO(s3.get_object(Bucket=out_bucket, Key=out_key)["Body"].read())))
        assert png.shape[2] == 4 and (png[..., 3] == 255).all()  # flattened on white, as asked
        assert (png[..., :3] == 255).all(axis=-1).mean() > 0.2
        assert c.post(f"/v1/batches/{batch}/retry-failed").json()["queued"] == 0


def test_a_message_that_is_not_a_job_fails_its_keys_with_the_reason(worker, status, celery_app, s3):
    from smallcut.celery_config import TASK_CHUNK, TASK_KEY

    batch, keys = f"badjob-{secrets.token_hex(3)}", ["badjob/a.jpg", "badjob/b.jpg"]
    status.create_batch(batch, {})
    status.mark_queued(batch, [(IN_BUCKET, k) for k in keys])
    celery_app.send_task(TASK_CHUNK, args=[{"batch": batch, "bucket": IN_BUCKET, "keys": keys[:1],
                                            "options": {"shadow": "soft"}}], queue="cpu")
    celery_app.send_task(TASK_KEY, args=[{"batch": batch, "bucket": IN_BUCKET, "key": keys[1],
                                          "out_prefix": "x", "colour": "white"}], queue="cpu")
    a = wait_for_object(status, f"{IN_BUCKET}/{keys[0]}")
    assert a["state"] == "failed" and a["error"].startswith("refused: bad job: options.shadow: Input should be"), a
    b = wait_for_object(status, f"{IN_BUCKET}/{keys[1]}")
    assert b["state"] == "failed" and b["error"] == "refused: bad job: colour: unknown field (written by a newer smallcut?)"
    summary = status.get_batch(batch)
    assert (summary.failed, summary.queued) == (2, 0)
    assert worker.poll() is None

"""Cut-out options the API passes to the workers: `shadow` (remove | keep) on /v1/cutout and batches.

The jobs are read back from the broker's Redis list of a queue no worker consumes, exactly as a
worker would receive them.
"""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from .api_fixtures import SCRATCH
from .conftest import IN_BUCKET, OUT_BUCKET, photo, settings_of

pytestmark = pytest.mark.integration


def queued_jobs(redis_url: str, queue: str) -> list[dict]:
    """The job dicts of the Celery messages waiting in `queue` (kombu's Redis list, base64 JSON bodies)."""
    import redis

    r = redis.Redis.from_url(redis_url)
    try:
        messages = [json.loads(m) for m in r.lrange(queue, 0, -1)]
        r.delete(queue)
    finally:
        r.close()
    return [json.loads(base64.b64decode(m["body"]))[0][0] for m in messages]


def test_batches_pass_shadow_to_the_job_and_refuse_other_values(api, env, s3):
    s3.put_object(Bucket=IN_BUCKET, Key="shadow/a.jpg", Body=photo(81))
    queue = f"noworker-{secrets.token_hex(4)}"
    body = {"keys": [f"s3://{IN_BUCKET}/shadow/a.jpg"], "out": f"s3://{OUT_BUCKET}/shadow", "queue": queue}
    with api.client() as c:
        kept = c.post("/v1/batches", json={**body, "options": {"shadow": "keep"}})
        assert kept.status_code == 202, kept.text
        plain = c.post("/v1/batches", json=body)
        assert plain.status_code == 202, plain.text
        assert c.get(f"/v1/batches/{kept.json()['batch_id']}").json()["options"]["shadow"] == "keep"
        assert c.get(f"/v1/batches/{plain.json()['batch_id']}").json()["options"]["shadow"] == "remove"
        bad = c.post("/v1/batches", json={**body, "options": {"shadow": "soft"}})
        assert bad.status_code == 400 and "shadow" in bad.json()["error"] and "keep" in bad.json()["error"]
    jobs = queued_jobs(env["SMALLCUT_REDIS_URL"], queue)
    assert sorted(j["options"]["shadow"] for j in jobs) == ["keep", "remove"]


def test_cutout_passes_shadow_to_the_job_and_refuses_other_values(api, env, status, s3, celery_app):
    from fastapi.testclient import TestClient

    from producer.api import make_app

    queue = f"noworker-{secrets.token_hex(4)}"
    settings = settings_of({**env, "SMALLCUT_QUEUE": queue, "SMALLCUT_API_SCRATCH": SCRATCH,
                            "SMALLCUT_API_CUTOUT_TIMEOUT": "0.3"})
    with TestClient(make_app(settings, status=status, s3=s3, celery_app=celery_app)) as c:
        r = c.post("/v1/cutout", files={"file": ("a.jpg", photo(82))}, data={"shadow": "keep"})
        assert r.status_code == 504, r.text  # nobody serves this queue: the job waits there
        r = c.post("/v1/cutout", files={"file": ("a.jpg", photo(82))})
        assert r.status_code == 504, r.text
        bad = c.post("/v1/cutout", files={"file": ("a.jpg", photo(82))}, data={"shadow": "soft"})
        assert bad.status_code == 400 and "shadow" in bad.json()["error"]
    jobs = queued_jobs(env["SMALLCUT_REDIS_URL"], queue)
    assert sorted(j["options"]["shadow"] for j in jobs) == ["keep", "remove"]

"""After a batch, the worker's and the API's /metrics agree with the batch status."""

from __future__ import annotations

import httpx
import pytest

from .api_fixtures import sample, scrape
from .conftest import IN_BUCKET, OUT_BUCKET, photo
from .test_api import wait_batch

pytestmark = pytest.mark.integration


def test_metrics_agree_with_batch_status(api, s3):
    for n in (41, 42, 43):
        s3.put_object(Bucket=IN_BUCKET, Key=f"apimetrics/{n:04d}.jpg", Body=photo(n))
    s3.put_object(Bucket=IN_BUCKET, Key="apimetrics/broken.png", Body=b"\x89PNG\r\n\x1a\n not really")
    before = scrape(api.metrics_url)
    with api.client() as c:
        batch_id = c.post("/v1/batches", json={"source": f"s3://{IN_BUCKET}/apimetrics/",
                                               "out": f"s3://{OUT_BUCKET}/apimetrics"}).json()["batch_id"]
        b = wait_batch(c, batch_id)
        reason = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/apimetrics/broken.png"}).json()["error"]
    after = scrape(api.metrics_url)
    delta = lambda name, **labels: sample(after, name, **labels) - sample(before, name, **labels)  # noqa: E731

    assert (b["done"], b["failed"], b["skipped"]) == (3, 1, 0)
    assert delta("smallcut_objects_total", state="done", reason="") == b["done"]
    failed = {labels: v - before.get((name, labels), 0) for (name, labels), v in after.items()
              if name == "smallcut_objects_total" and ("state", "failed") in labels}
    assert sum(failed.values()) == b["failed"], (failed, reason)
    assert delta("smallcut_objects_total", state="failed", reason="decode") == 1, (failed, reason)
    assert delta("smallcut_objects_total", state="skipped", reason="") == 0
    for stage in ("download", "decode", "coarse", "postprocess", "encode", "upload"):  # of finished cut-outs
        assert delta("smallcut_stage_seconds_count", stage=stage) == b["done"], stage
    assert sample(after, "smallcut_model_load_seconds_count") == 2  # one load per prefork child
    assert sample(after, "smallcut_in_flight") == 0

    api_metrics = scrape(f"{api.url}/metrics")
    for state in ("done", "failed", "skipped", "queued", "processing"):
        assert sample(api_metrics, "smallcut_batch_objects", batch=batch_id, state=state) == b[state], state
    assert sample(api_metrics, "smallcut_queue_depth", queue="api") == 0
    assert sample(api_metrics, "smallcut_status_store_up") == 1
    assert httpx.get(f"{api.url}/metrics").headers["content-type"].startswith("text/plain")

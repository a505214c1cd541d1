"""`smallcut api` against the real stack: Redis-protocol server, moto S3, a worker, uvicorn over HTTP."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from .api_fixtures import MAX_BODY
from .conftest import IN_BUCKET, OUT_BUCKET, photo

pytestmark = pytest.mark.integration


def wait_batch(client, batch_id: str, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        b = client.get(f"/v1/batches/{batch_id}").json()
        if b["is_finished"]:
            return b
        time.sleep(0.3)
    raise AssertionError(f"batch {batch_id} did not finish: {b}")


def all_items(client, batch_id: str, state: str | None = None, limit: int = 2) -> list[dict]:
    """Walks the cursor pages (a small page size so that paging is exercised)."""
    items, cursor = [], 0
    while True:
        params = {"cursor": cursor, "limit": limit, **({"state": state} if state else {})}
        page = client.get(f"/v1/batches/{batch_id}/items", params=params).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_cutout_returns_rgba_png_of_a_real_photo(api):
    data = photo(11)
    with api.client() as c:
        r = c.post("/v1/cutout", files={"file": ("0011.jpg", data, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        png = Image.open(io.BytesIO(r.content))
        src = Image.open(io.BytesIO(data))
        assert png.format == "PNG" and png.mode == "RGBA" and png.size == src.size
        alpha = np.asarray(png)[..., 3]
        assert alpha.min() == 0 and alpha.max() == 255 and 0.02 < (alpha > 127).mean() < 0.98
        obj = c.get("/v1/objects", params={"key": r.headers["x-smallcut-object"]}).json()
        assert obj["state"] == "done" and obj["output"] == r.headers["x-smallcut-output"]

        mask = c.post("/v1/cutout", files={"file": ("x.jpg", data)}, data={"mask_only": "true"})
        assert mask.status_code == 200, mask.text
        m = Image.open(io.BytesIO(mask.content))
        assert m.mode == "L" and m.size == src.size
        assert np.array_equal(np.asarray(m), alpha)  # same matte, given as a mask

        bad = c.post("/v1/cutout", files={"file": ("notes.jpg", b"\xff\xd8 not an image")})
        assert bad.status_code == 422 and bad.json()["error"]
        color = c.post("/v1/cutout", files={"file": ("x.jpg", data)}, data={"bg_color": "purplish"})
        assert color.status_code == 422 and "colour" in color.json()["error"]
        # a named colour is as good as the CLI's (smallcut.options): flattened on white, opaque
        white = c.post("/v1/cutout", files={"file": ("x.jpg", data)}, data={"bg_color": "white"})
        assert white.status_code == 200, white.text
        flat = np.asarray(Image.open(io.BytesIO(white.content)).convert("RGBA"))
        assert flat[..., 3].min() == 255 and (flat[alpha == 0][:, :3] == 255).all()


def test_batch_over_http_finishes_and_matches_s3(api, s3):
    for n in (21, 22, 23):
        s3.put_object(Bucket=IN_BUCKET, Key=f"apibatch/{n:04d}.jpg", Body=photo(n))
    s3.put_object(Bucket=IN_BUCKET, Key="apibatch/broken.jpg", Body=b"\xff\xd8\xff\xe0 broken")
    with api.client() as c:
        r = c.post("/v1/batches", json={"source": f"s3://{IN_BUCKET}/apibatch/", "out": f"s3://{OUT_BUCKET}/apiout"})
        assert r.status_code == 202, r.text
        batch_id = r.json()["batch_id"]
        b = wait_batch(c, batch_id)
        assert (b["total"], b["done"], b["failed"], b["skipped"]) == (4, 3, 1, 0)
        assert b["progress"] == 1.0 and b["eta"] == 0.0 and b["finished"] >= b["started"]
        items = all_items(c, batch_id)
        # the outputs the status names are the PNGs under the batch's `out` prefix (whatever the key
        # layout below it: smallcut/keys.py owns that rule)
        outputs = sorted(i["output"] for i in items if i["state"] == "done")
        listed = sorted(f"s3://{OUT_BUCKET}/{o['Key']}"
                        for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix="apiout/")["Contents"])
        assert listed == outputs and len(listed) == 3
        assert [u.rsplit("/", 1)[-1] for u in listed] == [f"{n:04d}.png" for n in (21, 22, 23)]
        assert sorted(i["key"] for i in items) == sorted([f"apibatch/{n:04d}.jpg" for n in (21, 22, 23)]
                                                         + ["apibatch/broken.jpg"])
        failed = all_items(c, batch_id, "failed")
        assert [i["key"] for i in failed] == ["apibatch/broken.jpg"] and failed[0]["error"]
        recent = c.get("/v1/batches").json()["batches"]
        assert recent[0]["batch"] >= batch_id and batch_id in [x["batch"] for x in recent]
        assert [x["created"] for x in recent] == sorted((x["created"] for x in recent), reverse=True)


def test_retry_failed_reruns_only_failed_keys(api, s3):
    good, bad = "apiretry/0031.jpg", "apiretry/0032.jpg"
    s3.put_object(Bucket=IN_BUCKET, Key=good, Body=photo(31))
    s3.put_object(Bucket=IN_BUCKET, Key=bad, Body=b"GIF89a truncated")
    with api.client() as c:
        batch_id = c.post("/v1/batches", json={"keys": [f"s3://{IN_BUCKET}/{good}", f"s3://{IN_BUCKET}/{bad}"],
                                               "out": f"s3://{OUT_BUCKET}/apiretry"}).json()["batch_id"]
        b = wait_batch(c, batch_id)
        assert (b["done"], b["failed"]) == (1, 1)
        before = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/{good}"}).json()
        failed = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/{bad}"}).json()
        assert failed["state"] == "failed" and failed["error"]
        s3.put_object(Bucket=IN_BUCKET, Key=bad, Body=photo(32))  # the operator fixed the source
        r = c.post(f"/v1/batches/{batch_id}/retry-failed")
        assert r.json() == {"batch_id": batch_id, "queued": 1}
        b = wait_batch(c, batch_id)
        assert (b["total"], b["done"], b["failed"]) == (2, 2, 0)
        after = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/{good}"}).json()
        assert after["attempts"] == before["attempts"] == 1 and after["finished_at"] == before["finished_at"]
        fixed = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/{bad}"}).json()
        assert fixed["state"] == "done" and not fixed["error"]
        assert float(fixed["started_at"]) > float(failed["finished_at"])  # it ran again
        out_bucket, _, out_key = fixed["output"].removeprefix("s3://").partition("/")
        assert out_bucket == OUT_BUCKET and out_key.startswith("apiretry/") and out_key.endswith("/0032.png")
        assert s3.head_object(Bucket=out_bucket, Key=out_key)["ContentLength"] > 0
        assert c.post(f"/v1/batches/{batch_id}/retry-failed").json()["queued"] == 0


def test_token_required(api):
    for client in (api.client(token=None), api.client(token="wrong")):
        with client as c:
            for method, path in (("GET", "/v1/batches"), ("GET", "/v1/objects?key=s3://inbox/a.jpg"),
                                 ("POST", "/v1/batches"), ("POST", "/v1/cutout")):
                r = c.request(method, path)
                assert r.status_code == 401, (method, path, r.status_code)
                assert r.headers["www-authenticate"] == "Bearer"
    with api.client() as c:
        assert c.get("/v1/batches").status_code == 200


def test_oversize_body_is_refused(api):
    with api.client() as c:
        big = b"\xff" * (MAX_BODY + 1)
        r = c.post("/v1/cutout", files={"file": ("big.jpg", big)})
        assert r.status_code == 413 and str(MAX_BODY) in r.json()["error"]

        def chunks():  # no Content-Length: counted while it streams
            for _ in range(MAX_BODY // 65536 + 2):
                yield b"x" * 65536

        r = c.post("/v1/batches", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413


def test_traversal_and_foreign_keys_are_refused_with_a_reason(api):
    with api.client() as c:
        r = c.get("/v1/objects", params={"key": f"s3://{IN_BUCKET}/a/../../etc/passwd"})
        assert r.status_code == 400 and "'..'" in r.json()["error"]
        r = c.post("/v1/batches", json={"keys": [f"s3://{IN_BUCKET}/ok.jpg", f"s3://{IN_BUCKET}/x/../y.jpg"]})
        assert r.status_code == 400 and "'..'" in r.json()["error"] and "x/../y.jpg" in r.json()["error"]
        r = c.post("/v1/batches", json={"source": "s3://elsewhere/photos/"})
        assert r.status_code == 400 and "allowed buckets" in r.json()["error"]
        r = c.post("/v1/batches", json={"source": "s3://inbox/", "keys": ["s3://inbox/a.jpg"]})
        assert r.status_code == 422 and "exactly one" in r.json()["error"]
        assert c.get("/v1/batches/no-such-batch").status_code == 404


def test_refuses_a_public_address_without_a_token(env):
    from .conftest import smallcut

    proc = smallcut({**env, "SMALLCUT_API_TOKEN": ""}, "api", "--host", "0.0.0.0", "--port", "1", timeout=60)
    assert proc.returncode == 2 and "SMALLCUT_API_TOKEN" in proc.stderr


def test_api_logs_are_json_lines_without_the_token(api):
    import json

    import httpx

    from .api_fixtures import TOKEN

    assert httpx.get(f"{api.url}/?token={TOKEN}", follow_redirects=False).status_code < 500
    with api.client() as c:
        assert c.get("/v1/batches").status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "/v1/batches" not in api.log.read_text():
        time.sleep(0.2)
    text = api.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    access = [x["msg"] for x in lines if x["logger"] == "uvicorn.access"]
    assert any("GET /v1/batches" in m for m in access) and any("token=***" in m for m in access)
    assert TOKEN not in text

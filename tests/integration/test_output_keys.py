"""Output keys: an output prefix replaces the input prefix (like `aws s3 sync`), on every intake path.

Prefix listings, manifests, retry-failed, the API's batches and single cut-outs; events keep the whole
key under the output prefix (tests/integration/test_pipeline_events.py).
"""

from __future__ import annotations

import time

import pytest

from .api_fixtures import SCRATCH
from .conftest import IN_BUCKET, OUT_BUCKET, last_json_line, photo, smallcut

pytestmark = pytest.mark.integration


def _listed(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=prefix).get("Contents", []))


def test_enqueue_prefix_and_manifest_write_keys_relative_to_the_source(s3, env, worker, tmp_path):
    for key, n in (("keys/photos/0801.jpg", 31), ("keys/photos/2024/0802.jpg", 32), ("keys/elsewhere/0803.jpg", 33)):
        s3.put_object(Bucket=IN_BUCKET, Key=key, Body=photo(n))
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/keys/photos/", "--out", f"s3://{OUT_BUCKET}/keys-out/photos",
                    "--wait", "--json")
    assert last_json_line(proc.stdout)["done"] == 2, proc.stderr
    assert _listed(s3, "keys-out/") == ["keys-out/photos/0801.png", "keys-out/photos/2024/0802.png"]

    manifest = tmp_path / "keys.txt"
    manifest.write_text("keys/photos/0801.jpg\nkeys/elsewhere/0803.jpg\n")
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/keys/photos/", "--manifest", str(manifest),
                    "--out", f"s3://{OUT_BUCKET}/keys-manifest", "--wait", "--json")
    assert last_json_line(proc.stdout)["done"] == 2, proc.stderr
    # a line under the source prefix is relative to it; one outside keeps its whole key
    assert _listed(s3, "keys-manifest/") == ["keys-manifest/0801.png", "keys-manifest/keys/elsewhere/0803.png"]


def test_retry_failed_keeps_the_layout(s3, env, worker, status):
    s3.put_object(Bucket=IN_BUCKET, Key="keys-retry/in/x.jpg", Body=b"\xff\xd8\xff\xe0 not yet a photo")
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/keys-retry/in/", "--out", f"s3://{OUT_BUCKET}/keys-retry-out",
                    "--wait", "--json")
    summary = last_json_line(proc.stdout)
    assert summary["failed"] == 1
    s3.put_object(Bucket=IN_BUCKET, Key="keys-retry/in/x.jpg", Body=photo(34))
    proc = smallcut(env, "retry-failed", summary["batch"], "--wait")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _listed(s3, "keys-retry-out/") == ["keys-retry-out/x.png"]


def test_api_outputs_replace_the_upload_prefix(api, s3):
    scratch = SCRATCH.removeprefix(f"s3://{IN_BUCKET}/")
    with api.client() as c:
        r = c.post("/v1/cutout", files={"file": ("x.jpg", photo(35), "image/jpeg")})
        assert r.status_code == 200, r.text
        src = r.headers["x-smallcut-object"].removeprefix(f"s3://{IN_BUCKET}/")
        out = r.headers["x-smallcut-output"].removeprefix(f"s3://{IN_BUCKET}/")
        assert src.startswith(f"{scratch}/in/")
        # not <scratch>/out/<scratch>/in/...: the upload's path below in/ under out/
        assert out == f"{scratch}/out/" + src.removeprefix(f"{scratch}/in/").rsplit(".", 1)[0] + ".png"

        s3.put_object(Bucket=IN_BUCKET, Key="keys-api/src/a.jpg", Body=photo(36))
        r = c.post("/v1/batches", json={"source": f"s3://{IN_BUCKET}/keys-api/src/", "out": f"s3://{OUT_BUCKET}/keys-api-out"})
        assert r.status_code == 202, r.text
        deadline = time.monotonic() + 180
        while not c.get(f"/v1/batches/{r.json()['batch_id']}").json()["is_finished"]:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    assert _listed(s3, "keys-api-out/") == ["keys-api-out/a.png"]

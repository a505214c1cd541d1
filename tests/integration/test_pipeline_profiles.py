"""Output profiles through the queue and the API: keys side by side, formats, status, idempotency per
profile, one output per object, refusals that name the field."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from smallcut import samples
from smallcut.celery_config import TASK_CHUNK

from .conftest import IN_BUCKET, OUT_BUCKET, last_json_line, photo, smallcut, wait_for_object

pytestmark = pytest.mark.integration


def _listed(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=OUT_BUCKET, Prefix=prefix).get("Contents", []))


def _get(s3, key: str) -> tuple[bytes, str]:
    r = s3.get_object(Bucket=OUT_BUCKET, Key=key)
    return r["Body"].read(), r["ContentType"]


def test_enqueue_profiles_side_by_side_and_idempotent_per_profile(s3, env, worker, status):
    s3.put_object(Bucket=IN_BUCKET, Key="prof/a.jpg", Body=photo(61))
    args = ["enqueue", f"s3://{IN_BUCKET}/prof/", "--out", f"s3://{OUT_BUCKET}/prof-out", "--profile", "default",
            "--profile", "amazon-main", "--profile", "zip", "--wait", "--json"]
    proc = smallcut(env, *args, "--profile", "name=thumb,format=webp,size=300x300,crop=true")
    assert last_json_line(proc.stdout)["done"] == 1, proc.stderr
    assert _listed(s3, "prof-out/") == ["prof-out/a.png", "prof-out/amazon-main/a.jpg", "prof-out/thumb/a.webp",
                                        "prof-out/zip/a.zip"]
    data, ctype = _get(s3, "prof-out/amazon-main/a.jpg")
    jpg = Image.open(io.BytesIO(data))
    assert ctype == "image/jpeg" and jpg.mode == "RGB" and jpg.size[0] == jpg.size[1] >= 1000
    data, ctype = _get(s3, "prof-out/thumb/a.webp")
    assert ctype == "image/webp" and Image.open(io.BytesIO(data)).size == (300, 300)
    data, ctype = _get(s3, "prof-out/zip/a.zip")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert ctype == "application/zip" and sorted(zf.namelist()) == ["alpha.png", "color.jpg"]
    png, _ = _get(s3, "prof-out/a.png")
    assert Image.open(io.BytesIO(png)).mode == "RGBA"  # the default profile: today's output at today's key

    obj = status.get_object(f"{IN_BUCKET}/prof/a.jpg")
    assert [o["profile"] for o in obj["outputs"]] == ["default", "amazon-main", "zip", "thumb"]
    amazon = obj["outputs"][1]
    assert amazon["output"] == f"s3://{OUT_BUCKET}/prof-out/amazon-main/a.jpg"
    assert abs(max(amazon["box"][2:]) / amazon["width"] - 0.85) <= 0.01
    assert obj["output"] == f"s3://{OUT_BUCKET}/prof-out/a.png"

    # the same profiles again: every output is current, nothing is redone
    proc = smallcut(env, *args, "--profile", "name=thumb,format=webp,size=300x300,crop=true")
    assert last_json_line(proc.stdout)["skipped"] == 1, proc.stderr
    # one profile changed: the key is redone, the changed output rewritten
    proc = smallcut(env, *args, "--profile", "name=thumb,format=webp,size=400x400,crop=true")
    assert last_json_line(proc.stdout)["done"] == 1, proc.stderr
    data, _ = _get(s3, "prof-out/thumb/a.webp")
    assert Image.open(io.BytesIO(data)).size == (400, 400)


def test_split_objects_one_output_each_with_box_and_area(s3, env, worker, status, api):
    name, data = samples.generate()[1]  # a pair of earrings
    s3.put_object(Bucket=IN_BUCKET, Key=f"split/{name}", Body=data)
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/split/", "--out", f"s3://{OUT_BUCKET}/split-out",
                    "--profile", "name=each,crop=true,crop_margin=10%", "--split-objects", "--wait", "--json")
    assert last_json_line(proc.stdout)["done"] == 1, proc.stderr
    stem = name.rsplit(".", 1)[0]
    assert _listed(s3, "split-out/") == [f"split-out/each/{stem}-1.png", f"split-out/each/{stem}-2.png"]
    obj = status.get_object(f"{IN_BUCKET}/split/{name}")
    outs = obj["outputs"]
    with api.client() as c:  # the review page's records carry the same list (producer/review/review.js shows it)
        page = c.get(f"/v1/batches/{last_json_line(proc.stdout)['batch']}/review").json()
    assert page["items"][0]["outputs"] == outs
    assert [o["object"] for o in outs] == [1, 2]
    truth = dict(samples.masks())[name]
    for o in outs:
        x, y, w, h = o["source_box"]
        assert truth[y:y + h, x:x + w].max() == 255 and o["area"] > 0.5 * (truth[y:y + h, x:x + w] > 127).sum()
        im = np.asarray(Image.open(io.BytesIO(_get(s3, o["output"].removeprefix(f"s3://{OUT_BUCKET}/"))[0])))
        assert im.shape[:2] == (o["height"], o["width"])


def test_bad_profiles_are_refused_with_the_field(env, s3, worker, status, celery_app):
    proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/prof-bad/", "--profile", "name=x,scale=5")
    assert proc.returncode == 2 and "scale:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    # a job written by hand with a bad profile: the key fails with the reason, the worker lives on
    key = "prof-bad/b.jpg"
    s3.put_object(Bucket=IN_BUCKET, Key=key, Body=photo(62))
    status.create_batch("prof-bad", {})
    status.mark_queued("prof-bad", [(IN_BUCKET, key)])
    celery_app.send_task(TASK_CHUNK, args=[{"batch": "prof-bad", "bucket": IN_BUCKET, "keys": [key],
                                            "out_bucket": OUT_BUCKET, "out_prefix": "prof-bad-out",
                                            "options": {"profiles": [{"name": "x", "format": "gif"}]}}], queue="cpu")
    obj = wait_for_object(status, f"{IN_BUCKET}/{key}", timeout=60)
    assert obj["state"] == "failed" and "format:" in obj["error"], obj


def test_api_cutout_with_remove_bg_fields(api):
    with api.client() as c:
        r = c.post("/v1/cutout", files={"file": ("x.jpg", photo(63), "image/jpeg")},
                   data={"format": "jpg", "scale": "80%", "size": "500x500", "bg_color": "white", "crop": "true"})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg" and "/custom/" in r.headers["x-smallcut-output"]
        assert Image.open(io.BytesIO(r.content)).size == (500, 500)
        r = c.post("/v1/cutout", files={"file": ("x.jpg", photo(63), "image/jpeg")}, data={"profile": "mask"})
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).mode == "L", r.text
        r = c.post("/v1/cutout", files={"file": ("x.jpg", photo(63), "image/jpeg")}, data={"scale": "5"})
        assert r.status_code == 422 and "scale:" in r.json()["error"], r.text
        r = c.post("/v1/batches", json={"keys": [f"s3://{IN_BUCKET}/nothing.jpg"],
                                         "options": {"profiles": ["amazon-main", {"name": "t", "size": "0x1"}]}})
        assert r.status_code == 422 and "size:" in r.text, r.text

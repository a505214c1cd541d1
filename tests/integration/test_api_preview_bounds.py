"""/v1/preview decodes with bounded memory: a huge PNG answers 413 with the reason, never a 500."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from producer.api_review import PREVIEW_DECODE_BYTES, make_thumbnail
from smallcut.imagesize import ImageRefused

from .conftest import IN_BUCKET

pytestmark = pytest.mark.integration


def _png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h), 200).save(buf, "PNG")  # compresses to a few KB whatever its size
    return buf.getvalue()


def test_a_png_whose_decode_would_not_fit_is_refused_before_decoding():
    side = int((PREVIEW_DECODE_BYTES / 3) ** 0.5) + 200  # RGB decode just above the bound
    with pytest.raises(ImageRefused, match="MiB to decode"):
        make_thumbnail(_png(side, side), 256, max_pixels=400_000_000)


def test_a_frame_above_the_pixel_limit_is_refused():
    with pytest.raises(ImageRefused, match="too large"):
        make_thumbnail(_png(20000, 20000), 256, max_pixels=120_000_000)


def test_a_large_jpeg_previews_at_reduced_scale():
    buf = io.BytesIO()
    Image.fromarray(np.full((3000, 4000, 3), 128, np.uint8)).save(buf, "JPEG", quality=80)
    media, data = make_thumbnail(buf.getvalue(), 256, max_pixels=120_000_000)
    assert media == "image/jpeg" and max(Image.open(io.BytesIO(data)).size) == 256


def test_preview_endpoint_answers_413_for_a_bomb(api, s3):
    s3.put_object(Bucket=IN_BUCKET, Key="bombs/huge.png", Body=_png(20000, 20000))
    with api.client() as c:
        r = c.get("/v1/preview", params={"key": f"s3://{IN_BUCKET}/bombs/huge.png"})
    assert r.status_code == 413, r.text
    assert "too large" in r.text

"""Decode every odd input a catalog throws at us; refuse the broken ones with a reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ecssd_image
from workers.engine import codec


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(ecssd_image(810)).convert("RGB")


def test_jpeg_matches_pil(photo):
    data = _save(photo, "JPEG", quality=95)
    rgb = codec.decode(data)
    ref = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert rgb.shape == ref.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - ref).mean() < 2


def test_exif_orientation_is_applied(photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    data = _save(photo, "JPEG", exif=exif)
    rgb = codec.decode(data)
    assert rgb.shape[:2] == (photo.width, photo.height)


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "I;16"])
def test_colour_modes_end_as_rgb(photo, mode):
    if mode == "I;16":
        arr = (np.asarray(photo.convert("L")).astype(np.uint16) * 257)
        im = Image.fromarray(arr)
        data = _save(im, "PNG")
    elif mode == "CMYK":
        data = _save(photo.convert("CMYK"), "JPEG")
    else:
        data = _save(photo.convert(mode), "PNG")
    rgb = codec.decode(data)
    assert rgb.shape == (photo.height, photo.width, 3) and rgb.dtype == np.uint8
    grey = np.asarray(photo.convert("L")).astype(int)
    assert np.corrcoef(rgb.mean(axis=2).ravel(), grey.ravel())[0, 1] > 0.9


def test_16bit_colour_png(photo):
    import cv2

    bgr16 = cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2BGR).astype(np.uint16) * 257
    ok, buf = cv2.imencode(".png", bgr16)
    rgb = codec.decode(buf.tobytes())
    assert rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - np.asarray(photo).astype(int)).max() <= 1


def test_palette_png_with_transparency_composites_on_white():
    im = Image.new("RGBA", (40, 30), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (0, 0, 20, 30))
    data = _save(im.convert("P"), "PNG")
    rgb = codec.decode(data)
    assert tuple(rgb[15, 30]) == (255, 0, 0)
    assert tuple(rgb[15, 5]) == (255, 255, 255)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    rgb = codec.decode(buf.getvalue())
    assert rgb[10, 10, 0] > 200 and rgb[10, 10, 2] < 50


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"<html><body>hello</body></html>", "not a recognised image"),
        (b"%PDF-1.4 fake", "not a recognised image"),
    ],
)
def test_garbage_is_refused_with_reason(data, reason):
    with pytest.raises(codec.DecodeError, match=reason):
        codec.decode(data)


def test_truncated_jpeg_is_refused(photo):
    data = _save(photo, "JPEG")
    with pytest.raises(codec.DecodeError, match="corrupt or truncated"):
        codec.decode(data[: len(data) // 3])


def test_decompression_bomb_refused_before_decoding():
    # a real PNG header claiming 50000x50000 pixels, no pixel data needed to refuse it
    im = Image.new("1", (50000, 50000))
    data = _save(im, "PNG")
    assert len(data) < 1_000_000
    with pytest.raises(codec.DecodeError, match="too large"):
        codec.decode(data, max_pixels=100_000_000)


@pytest.mark.parametrize("encoder", ["fpng", "opencv", "pil"])
def test_png_round_trip(encoder):
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 255, (37, 53, 4), dtype=np.uint8)
    out = np.asarray(Image.open(io.BytesIO(codec.encode_png(rgba, encoder))))
    assert out.shape == rgba.shape and (out == rgba).all()
    mask = rgba[..., 3].copy()
    out = np.asarray(Image.open(io.BytesIO(codec.encode_png(mask, encoder))))
    assert out.ndim == 2 and (out == mask).all()

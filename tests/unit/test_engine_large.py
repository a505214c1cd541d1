"""Frames over `large_above_px`: the plan on a reduced copy, the output composed and encoded band by
band (workers/engine/large.py). Right size, a sane alpha, and the same cut-out as the full-resolution
path on a frame just over the threshold."""

from __future__ import annotations

import dataclasses
import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from workers.engine import CutoutOptions, codec, large


def _frame(w: int, h: int, fmt: str) -> bytes:
    """A gradient backdrop with a large disc and a small square (as bench.memory's frames)."""
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.empty((h, w, 3), np.uint8)
    base[..., 0] = (200 + 40 * y).astype(np.uint8)
    base[..., 1] = (190 + 50 * x).astype(np.uint8)
    base[..., 2] = 210
    im = Image.fromarray(base)
    draw = ImageDraw.Draw(im)
    draw.ellipse([0.15 * w, 0.3 * h, 0.45 * w, 0.7 * h], fill=(40, 30, 120))
    draw.rectangle([0.7 * w, 0.4 * h, 0.76 * w, 0.48 * h], fill=(160, 40, 30))
    out = io.BytesIO()
    if fmt == "PNG":
        im.save(out, "PNG", compress_level=1)
    else:
        im.save(out, "JPEG", quality=90)
    return out.getvalue()


def _decode(png: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA) if img.ndim == 3 else img


def test_a_40_mp_png_comes_out_full_size_with_its_objects_opaque_and_the_backdrop_clear(engine):
    w, h = 7300, 5480  # 40 MP: over the default threshold
    assert large.is_large((w, h), engine.config)
    out = engine.cutout(_frame(w, h, "PNG"))
    assert (out.width, out.height) == (w, h)
    rgba = _decode(out.png)
    assert rgba.shape == (h, w, 4)
    alpha = rgba[..., 3]
    assert alpha[h // 2, int(0.3 * w)] > 240  # the disc's middle
    assert alpha[int(0.44 * h), int(0.73 * w)] > 240  # the square's middle
    assert alpha[h // 10, w // 10] < 10 and alpha[-h // 10, -w // 10] < 10  # backdrop corners
    disc = np.zeros((h, w), bool)
    cv2.ellipse(disc.view(np.uint8), (int(0.3 * w), h // 2), (int(0.15 * w), int(0.2 * h)), 0, 0, 360, 1, -1)
    fg = alpha > 127
    assert (fg & disc).sum() / disc.sum() > 0.97  # the disc whole
    assert fg[~disc].mean() < 0.01  # little besides it and the square (0.5 % of the frame)
    assert out.objects == 2
    # colours under the opaque object are the photo's, not the band's neighbours'
    assert np.abs(rgba[h // 2, int(0.3 * w), :3].astype(int) - (40, 30, 120)).max() <= 3


def test_the_large_path_agrees_with_the_full_resolution_path_just_over_the_threshold(engine):
    w, h = 4700, 3520  # 16.5 MP: just over the default 16 MP
    data = _frame(w, h, "JPEG")
    assert large.is_large((w, h), engine.config)
    normal = engine.with_config(dataclasses.replace(engine.config, large_above_px=0))
    a = _decode(engine.cutout(data, CutoutOptions(mask_only=True)).png)
    b = _decode(normal.cutout(data, CutoutOptions(mask_only=True)).png)
    assert a.shape == b.shape == (h, w)
    fa, fb = a > 127, b > 127
    assert (fa & fb).sum() / (fa | fb).sum() > 0.98


def test_frames_at_or_under_the_threshold_take_the_full_resolution_path(engine):
    cfg = engine.config
    assert not large.is_large((4000, 4000), cfg)  # exactly 16 MP
    assert large.is_large((4001, 4000), cfg)
    assert not large.is_large((40000, 3000), dataclasses.replace(cfg, large_above_px=0))  # 0: off
    assert not large.is_large(None, cfg)  # an unreadable header: the ordinary decode reports it


def test_upsampled_rows_match_a_whole_frame_resize():
    rng = np.random.default_rng(3)
    src = rng.random((30, 41), dtype=np.float32)
    whole = cv2.resize(src, (173, 127), interpolation=cv2.INTER_LINEAR)
    rows = np.concatenate([large.upsample_rows(src, (173, 127), y0, min(127, y0 + 20)) for y0 in range(0, 127, 20)])
    assert np.abs(rows - whole).max() < 1e-3


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_png_rows_encoder_round_trips_through_opencv_and_pil(channels):
    rng = np.random.default_rng(channels)
    shape = (45, 31) if channels == 1 else (45, 31, channels)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    png = codec.encode_png_rows(31, 45, channels, (img[y : y + 10] for y in range(0, 45, 10)))
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png))), img)
    with pytest.raises(ValueError, match="rows"):
        codec.encode_png_rows(31, 46, channels, [img])


def test_a_bad_large_file_fails_with_a_reason(engine):
    data = _frame(4800, 3600, "JPEG")
    with pytest.raises(codec.DecodeError):
        engine.cutout(data[: len(data) // 3])


@pytest.mark.parametrize("options", [CutoutOptions(bg_color=(255, 255, 255, 255)), CutoutOptions(shadow="keep"),
                                     CutoutOptions(shadow="keep", mask_only=True)], ids=["flattened", "shadow", "shadow-mask"])
def test_every_output_kind_comes_out_of_the_large_path(engine, options):
    """The band-by-band compose makes what `compose` makes: flattened, with a kept shadow layer, as a mask.
    (A low threshold, so that a small frame takes the large path.)"""
    eng = engine.with_config(dataclasses.replace(engine.config, large_above_px=1_000_000, large_work_side=800))
    w, h = 1600, 1200
    out = _decode(eng.cutout(_frame(w, h, "JPEG"), options).png)
    assert out.shape[:2] == (h, w)
    assert out.ndim == (2 if options.mask_only else 3)
    if options.bg_color is not None:
        assert (out[..., 3] == 255).all()  # flattened on an opaque colour
        assert (out[h // 10, w // 10, :3] >= 250).all()  # the backdrop became white
        assert np.abs(out[h // 2, int(0.3 * w), :3].astype(int) - (40, 30, 120)).max() <= 6  # the object stayed
    else:
        alpha = out if out.ndim == 2 else out[..., 3]
        assert alpha[h // 2, int(0.3 * w)] > 240 and alpha[h // 10, w // 10] < 10

"""Bounded-memory decoding and the large-image gate: header-only estimates, reduced-scale JPEG
decodes, alpha flattened band by band, and one oversized image at a time per host."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest
from PIL import Image

from smallcut import imagesize
from workers.engine import codec
from workers.memory_gate import large_image_slot


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _scene(w: int, h: int) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)), np.full_like(x, 128)], -1).astype(np.uint8)
    return Image.fromarray(rgb)


def test_flatten_on_white_matches_pil_compositing_across_bands():
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, (37, 23, 4), dtype=np.uint8)
    ours = codec.flatten_on_white(rgba, rows_per_step=5)
    bg = Image.new("RGBA", (23, 37), (255, 255, 255, 255))
    pil = np.asarray(Image.alpha_composite(bg, Image.fromarray(rgba, "RGBA")).convert("RGB")).astype(int)
    assert ours.shape == (37, 23, 3) and np.abs(ours.astype(int) - pil).max() <= 1


def test_decode_reduced_scales_a_large_jpeg_inside_the_decoder():
    data = _save(_scene(4000, 3000), "JPEG", quality=90)
    rgb, factor = codec.decode_reduced(data, min_side=320)
    assert factor == 8 and rgb.shape == (375, 500, 3)
    full = codec.decode(data)
    small = np.asarray(Image.fromarray(full).resize((500, 375), Image.Resampling.BOX)).astype(int)
    assert np.abs(rgb.astype(int) - small).mean() < 4  # the same picture, not a crop or a shift
    rgb, factor = codec.decode_reduced(data, min_side=1000)
    assert factor == 4 and rgb.shape == (750, 1000, 3)
    assert codec.decode_reduced(data, min_side=1001)[1] == 2


def test_decode_reduced_keeps_full_scale_when_it_cannot_reduce():
    png = _save(_scene(640, 480), "PNG")
    rgb, factor = codec.decode_reduced(png, min_side=320)
    assert factor == 1 and rgb.shape == (480, 640, 3)
    small_jpeg = _save(_scene(400, 300), "JPEG")
    assert codec.decode_reduced(small_jpeg, min_side=320)[1] == 1


def test_header_estimates_need_no_pixels():
    data = _save(Image.new("1", (50000, 50000)), "PNG")  # 2.5 G pixels claimed, a small file
    head = imagesize.probe(data)
    assert (head.width, head.height) == (50000, 50000)
    assert head.cutout_bytes == imagesize.LARGE_FIXED_BYTES + 50000 * 50000 * imagesize.LARGE_BYTES_PER_PIXEL
    with pytest.raises(imagesize.ImageRefused, match="too large"):
        imagesize.decode_reduced(data, 256, max_pixels=120_000_000, max_decoded_bytes=256 << 20)
    with pytest.raises(imagesize.ImageRefused, match="not a recognised"):
        imagesize.probe(b"not an image")


def test_preview_decode_refuses_what_it_cannot_reduce_and_reduces_jpeg():
    big_png = _save(Image.new("RGBA", (6000, 6000), (10, 20, 30, 128)), "PNG")
    with pytest.raises(imagesize.ImageRefused, match="MiB to decode"):
        imagesize.decode_reduced(big_png, 256, max_pixels=120_000_000, max_decoded_bytes=64 << 20)
    cutout = _save(Image.new("RGBA", (800, 600), (10, 20, 30, 0)), "PNG")
    kept = imagesize.decode_reduced(cutout, 64, max_pixels=120_000_000, max_decoded_bytes=64 << 20, keep_alpha=True)
    assert kept.mode == "RGBA" and kept.size == (64, 48) and kept.getpixel((5, 5))[3] == 0
    jpeg = _save(_scene(6000, 4500), "JPEG")
    im = imagesize.decode_reduced(jpeg, 256, max_pixels=120_000_000, max_decoded_bytes=1 << 20)
    assert im.mode == "RGB" and max(im.size) == 256


def test_only_one_oversized_image_at_a_time(tmp_path):
    lock = str(tmp_path / "slot.lock")
    order: list[str] = []
    first_in, release_first = threading.Event(), threading.Event()

    def first():
        with large_image_slot(10, budget=5, path=lock) as gated:
            assert gated
            order.append("first in")
            first_in.set()
            release_first.wait(10)
            order.append("first out")

    def second():
        first_in.wait(10)
        with large_image_slot(10, budget=5, path=lock):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_in.wait(10)
    with large_image_slot(3, budget=5, path=lock) as gated:  # under the budget: never waits
        assert not gated
        order.append("small")
    release_first.set()
    for t in threads:
        t.join(10)
    assert order.index("first out") < order.index("second in")
    assert order.index("small") < order.index("first out")


def test_the_estimate_follows_the_engines_large_frame_path():
    """Frames over the engine's threshold are planned on a reduced copy: the header estimate must switch
    where the engine does, and bound what bench/memory measured there (120 MP: 747 MB over the baseline)."""
    from workers.engine.config import EngineConfig

    assert imagesize.LARGE_FRAME_PX == EngineConfig().large_above_px
    small = imagesize.Header("JPEG", 4000, 3000, 3)
    large = imagesize.Header("JPEG", 12650, 9487, 3)  # 120 MP
    assert small.cutout_bytes == imagesize.CUTOUT_FIXED_BYTES + 12_000_000 * imagesize.CUTOUT_BYTES_PER_PIXEL
    assert 747 * 2**20 < large.cutout_bytes < 1500 * 2**20

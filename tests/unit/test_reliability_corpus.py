"""Every file of the hostile/odd corpus through `Engine.cutout`: a valid PNG of the right (oriented) size,
or DecodeError with the expected reason. Any other exception, or a wrong size, fails."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.corpus import build
from workers.engine import CutoutOptions, DecodeError
from workers.engine.codec import decode

CASES = {c.name: c for c in build()}


def test_corpus_is_big_and_mixed():
    assert len(CASES) >= 30
    assert sum(c.refuse is not None for c in CASES.values()) >= 10
    assert sum(c.size is not None for c in CASES.values()) >= 20


def check_png(png: bytes, size: tuple[int, int]) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == size
    im.load()  # the whole stream decodes: not truncated
    return im


@pytest.mark.parametrize("name", sorted(CASES))
def test_cutout_succeeds_or_refuses_with_reason(engine, name):
    case = CASES[name]
    if case.refuse is not None:
        with pytest.raises(DecodeError) as info:
            engine.cutout(case.data, CutoutOptions())
        assert case.refuse.lower() in str(info.value).lower()
    else:
        res = engine.cutout(case.data, CutoutOptions())
        assert (res.width, res.height) == case.size
        check_png(res.png, case.size)


def test_ycck_decodes_like_the_cmyk_original():
    """The YCCK file is really decoded as YCCK (colours match the CMYK file), not as raw CMYK planes."""
    ycck, cmyk = decode(CASES["ycck.jpg"].data), decode(CASES["cmyk.jpg"].data)
    assert float(np.abs(ycck.astype(int) - cmyk.astype(int)).mean()) < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_moves_the_object(orientation):
    """The dark disc sits left of centre in the stored pixels; after EXIF rotation it is where it should be."""
    rgb = decode(CASES[f"exif-orientation-{orientation}.jpg"].data)
    ys, xs = np.nonzero(rgb.sum(-1) < 300)
    h, w = rgb.shape[:2]
    cx, cy = xs.mean() / w, ys.mean() / h
    # stored: disc centre at (0.40, 0.55) of (w, h); where each orientation puts it
    expected = {1: (0.40, 0.55), 2: (0.60, 0.55), 3: (0.60, 0.45), 4: (0.40, 0.45),
                5: (0.55, 0.40), 6: (0.45, 0.40), 7: (0.45, 0.60), 8: (0.55, 0.60)}[orientation]
    assert abs(cx - expected[0]) < 0.05 and abs(cy - expected[1]) < 0.05, (cx, cy)

"""Resizing: `resize` is the exact area average; `shrink` (halvings, then a bilinear step) is the same
picture up to rounding, a light blur difference at edges and a sub-pixel shift."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.engine.resample import resize, shrink


def smooth_photo(h: int, w: int, channels: int = 3) -> np.ndarray:
    """A photo-like frame: smooth gradients and a few hard-edged shapes, uint8."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.dstack([128 + 100 * np.sin(xx / 97.0 + c) * np.cos(yy / 71.0 - c) for c in range(channels)])
    cv2.circle(img, (w // 3, h // 2), min(h, w) // 5, (250, 20, 40)[:channels], -1)
    cv2.rectangle(img, (w // 2, h // 5), (w // 2 + w // 6, h // 5 + h // 7), (10, 200, 90)[:channels], -1)
    return np.clip(img, 0, 255).astype(np.uint8).squeeze()


@pytest.mark.parametrize("shape,size", [((1500, 2000), (768, 576)), ((1401, 1777), (512, 404)), ((999, 1333), (320, 320)),
                                        ((480, 640), (400, 300))])
def test_shrink_matches_the_direct_area_average(shape, size):
    img = smooth_photo(*shape)
    direct = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.int16)
    halved = shrink(img, size)
    assert halved.shape == direct.shape and halved.dtype == np.uint8
    diff = np.abs(halved.astype(np.int16) - direct)
    # the same picture: off by a level or two on average, more only across the hard edges
    assert diff.mean() < 1.5
    assert np.percentile(diff, 99) < 40


def test_shrink_keeps_maps_and_channels():
    p = smooth_photo(1501, 2001, 1).astype(np.float32) / 255.0
    out = shrink(p, (500, 375))
    assert out.shape == (375, 500) and out.dtype == np.float32
    assert abs(float(out.mean()) - float(p.mean())) < 0.01
    four = np.dstack([smooth_photo(600, 800), smooth_photo(600, 800, 1)])
    assert shrink(four, (200, 150)).shape == (150, 200, 4)


def test_shrink_to_a_size_reached_by_halving_is_the_halving():
    img = smooth_photo(1200, 1600)
    assert np.array_equal(shrink(img, (400, 300)), cv2.resize(cv2.resize(img, (800, 600), interpolation=cv2.INTER_AREA), (400, 300),
                                                              interpolation=cv2.INTER_AREA))


def test_resize_grows_linearly_and_leaves_the_same_size_alone():
    img = smooth_photo(100, 120)
    assert resize(img, (120, 100)) is img
    assert np.array_equal(resize(img, (240, 200)), cv2.resize(img, (240, 200), interpolation=cv2.INTER_LINEAR))
    # growing in one direction and shrinking in the other is not a shrink: linear
    assert np.array_equal(resize(img, (240, 50)), cv2.resize(img, (240, 50), interpolation=cv2.INTER_LINEAR))


def test_resize_shrinks_with_the_exact_area_average():
    # what the network sees: its small-object scores move when these pixels are averaged otherwise
    img = smooth_photo(1500, 2000)
    assert np.array_equal(resize(img, (320, 320)), cv2.resize(img, (320, 320), interpolation=cv2.INTER_AREA))
    assert not np.array_equal(shrink(img, (320, 320)), resize(img, (320, 320)))

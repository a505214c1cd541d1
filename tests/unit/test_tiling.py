"""Tiled inference geometry and stitching."""

from __future__ import annotations

import numpy as np

from workers.engine import tiling


def test_tiles_cover_frame_with_overlap():
    boxes = tiling.tile_boxes(1000, 600, grid=3, overlap=0.2)
    assert len(boxes) == 9
    cover = np.zeros((600, 1000), int)
    for b in boxes:
        cover[b.slices()] += 1
        assert 0 <= b.x0 < b.x1 <= 1000 and 0 <= b.y0 < b.y1 <= 600
    assert cover.min() >= 1 and cover.max() >= 2


def test_stitch_of_constant_patches_is_constant_and_blends_overlaps():
    boxes = tiling.tile_boxes(200, 100, grid=2, overlap=0.3)
    out = tiling.stitch([np.full((b.h, b.w), 0.7, np.float32) for b in boxes], boxes, (100, 200))
    assert np.allclose(out, 0.7, atol=1e-5)
    left, right = boxes[0], boxes[1]
    patches = [np.full((b.h, b.w), 1.0 if b.x0 == 0 else 0.0, np.float32) for b in boxes]
    out = tiling.stitch(patches, boxes, (100, 200))
    assert out[50, 5] > 0.99 and out[50, 195] < 0.01
    mid = out[50, right.x0:left.x1]
    assert np.all(np.diff(mid) <= 1e-6)  # a smooth ramp, no seam


def test_tiled_predict_runs_the_net_per_tile(engine):
    rgb = np.random.default_rng(1).integers(0, 255, (300, 500, 3), dtype=np.uint8)
    before = engine.net.passes
    out = tiling.tiled_predict(engine.net, rgb, grid=2, size=160, out_scale=0.5)
    assert out.shape == (150, 250)
    assert engine.net.passes - before == 1  # four same-size tiles in one batch
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1

"""Tiled inference geometry and stitching."""

from __future__ import annotations

import cv2
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


def test_calm_tiles_of_plain_backdrop_are_not_run(engine):
    """A studio gradient with one button: only the tile holding it goes through the network."""
    h, w = 600, 800
    yy, xx = np.mgrid[:h, :w]
    rgb = np.dstack([200 + 30 * xx / w, 190 + 20 * yy / h, np.full((h, w), 185.0)]).astype(np.uint8)
    cv2.circle(rgb, (650, 470), 25, (40, 60, 160), -1)
    edges = tiling.edge_strength(rgb)
    boxes = tiling.tile_boxes(w, h, 2)
    assert [tiling.calm(edges, b, (w, h), 30.0) for b in boxes] == [True, True, True, False]

    seen = []

    class Spy:
        def predict(self, images):
            seen.extend(images)
            return engine.net.predict(images)

    out = tiling.tiled_predict(Spy(), rgb, grid=2, size=256, out_scale=0.5, edges=edges)
    assert len(seen) == 1 and out.shape == (300, 400)
    assert out[:120, :160].max() == 0.0  # only the skipped top-left tile covers this corner
    assert out[220:250, 310:340].max() > 0.3  # the button, found by the tile that ran (candidates start at 0.15)
    # without edges every tile runs
    seen.clear()
    tiling.tiled_predict(Spy(), rgb, grid=2, size=256, out_scale=0.5)
    assert len(seen) == 4

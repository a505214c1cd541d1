"""Training data at the engine's scales: catalog-tune crops (frame, tile, zoom on an object, empty
texture), per-batch scales, distillation photos; every sample a pure function of (seed, index)."""

from __future__ import annotations

import numpy as np
import pytest

from bench import catalog_format
from training import catalog, data
from workers.engine import tiling


def test_crops_at_the_engines_sizes_with_the_product_alpha_only(catalog_dir):
    rng = np.random.default_rng(0)
    for kind, size in (("frame", 64), ("tile", 48), ("object", 32), ("empty", 32)):
        for _ in range(4):
            rgb, target = catalog.crop(rng, [0, 1], kind, size, catalog_dir, (32,))
            assert rgb.shape == (size, size, 3) and rgb.dtype == np.uint8 and target.shape == (size, size)
            assert 0.0 <= target.min() and target.max() <= 1.0
            if kind == "empty":
                assert target.max() == 0.0  # "nothing here", shadows included
            elif kind == "object":
                assert target.max() == 1.0 and target.mean() > 0.02  # the product fills a good share of its zoom
    # frame: the whole frame squashed; the shadow is background in the target
    rgb, alpha, _, _ = catalog_format.load_sample(catalog_dir, "tune-0000")
    _, target = catalog.crop(np.random.default_rng(1), [0], "frame", 60, catalog_dir, (32,))
    assert abs(float(target.mean()) - float(alpha.mean()) / 255) < 0.01


def test_tiles_are_the_engines_detection_tiles(catalog_dir):
    boxes = tiling.tile_boxes(240, 180, tiling.grid_for(180, 240))
    assert len(boxes) == 4
    alpha = catalog_format.load_sample(catalog_dir, "tune-0000")[1]
    want = [alpha[b.y0 : b.y1, b.x0 : b.x1].mean() / 255 for b in boxes]
    for seed in range(8):
        got = float(catalog.crop(np.random.default_rng(seed), [0], "tile", 64, catalog_dir, (32,))[1].mean())
        assert min(abs(got - w) for w in want) < 0.01  # one of the four tiles, squashed


def test_tuning_check_frames_are_refused():
    with pytest.raises(ValueError, match="tuning check"):
        catalog.frame_ids((200, 260))


def test_batches_share_one_engine_scale_and_are_pure(catalog_dir, small_ecssd):
    cfg = data.DataConfig(multiscale=True, frame_size=64, tile_size=48, zoom_sizes=(32,), catalog_share=0.5,
                          catalog_frames=(0, 1), catalog_val_frames=(2, 2), catalog_dir=str(catalog_dir), **small_ecssd)
    scales = {data.batch_scale(cfg, 0, n) for n in range(30)}
    assert scales == {("frame", 64), ("tile", 48), ("zoom", 32)}
    kinds = set()
    for n in range(6):
        x, y, k = data.batch(cfg, 0, n, 3)
        side = data.batch_scale(cfg, 0, n)[1]
        assert x.shape == (3, 3, side, side) and y.shape == (3, 1, side, side)
        kinds |= set(k)
    assert kinds <= set(data.KINDS) and "catalog" in kinds
    again = data.batch(cfg, 0, 5, 3)
    assert np.array_equal(again[0], x) and np.array_equal(again[1], y)
    photos = data.distill_photos(cfg, 0, 3, 2)  # whole photos at the batch's side
    side = data.batch_scale(cfg, 0, 3)[1]
    assert photos.shape == (2, 3, side, side) and np.array_equal(photos, data.distill_photos(cfg, 0, 3, 2))

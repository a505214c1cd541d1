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


def test_catalog_crops_come_from_every_configured_draw_and_one_draw_samples_as_before(catalog_dir, small_ecssd, monkeypatch):
    # draw 2's frames beside draw 1's (as bench/out/sets/catalog-tune2 beside catalog-tune): the same
    # frames but black, so a crop tells which draw it came from
    second = catalog_dir.parent / "catalog-tune2"
    for i in range(3):
        rgb, a, s, meta = catalog_format.load_sample(catalog_dir, f"tune-{i:04d}")
        catalog_format.write_sample(second, meta["name"], np.zeros_like(rgb), a, s, meta)
    assert catalog.set_dir(str(catalog_dir), 2) == second and catalog.set_dir(str(catalog_dir)) == catalog_dir
    with pytest.raises(ValueError, match="draws are"):
        catalog.set_dir(str(catalog_dir), 99)
    base = dict(frame_size=48, catalog_share=1.0, catalog_frames=(0, 1), catalog_val_frames=(2, 2),
                catalog_dir=str(catalog_dir), **small_ecssd)

    def black(cfg):
        return [float(data.sample(cfg, 0, i, scale=("frame", 48))[0].std(axis=(1, 2)).max()) < 1e-3 for i in range(24)]

    assert not any(black(data.DataConfig(**base)))
    both = black(data.DataConfig(**base, catalog_draws=(1, 2)))
    assert 4 <= sum(both) <= 20  # both draws, about half each
    assert all(black(data.DataConfig(**base, catalog_draws=(2,))))
    # one draw takes no number from the stream: draw 1 alone samples exactly what the default does
    one = data.sample(data.DataConfig(**base, catalog_draws=(1,)), 0, 3, scale=("frame", 48))
    assert np.array_equal(one[0], data.sample(data.DataConfig(**base), 0, 3, scale=("frame", 48))[0])
    # a frame missing on disk is rendered from its own draw
    seen = []
    monkeypatch.setattr("bench.tune.build.render", lambda index, draw=1: seen.append(draw) or _frame_of(catalog_dir))
    catalog.load_frame(7, second, draw=2)
    assert seen == [2]


def _frame_of(d):
    rgb, a, s, meta = catalog_format.load_sample(d, "tune-0000")
    return rgb, a, s, {**meta, "name": "tune-0007"}

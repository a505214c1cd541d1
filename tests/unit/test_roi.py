"""ROI proposals and fusion: pure functions on arrays."""

from __future__ import annotations

import numpy as np
import pytest

from workers.engine import roi


def _disc(h, w, cy, cx, r, value=1.0):
    yy, xx = np.mgrid[:h, :w]
    return np.where((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r, value, 0.0).astype(np.float32)


def test_find_candidates_scales_boxes_to_frame():
    prob = _disc(100, 100, 20, 30, 4) + _disc(100, 100, 70, 80, 6, 0.6)
    cands, labels = roi.find_candidates(prob, (1000, 500), threshold=0.15)
    assert len(cands) == 2
    assert labels.shape == prob.shape and labels.max() == 2
    a, b = sorted(cands, key=lambda c: c.box.x0)
    # disc 1: x 26..34, y 16..24 in map -> x*10, y*5 in frame
    assert (a.box.x0, a.box.x1) == (260, 350)
    assert (a.box.y0, a.box.y1) == (80, 125)
    assert a.peak == pytest.approx(1.0) and b.peak == pytest.approx(0.6)
    assert b.area_frac > a.area_frac


def test_find_candidates_ignores_below_threshold_and_single_pixels():
    prob = _disc(50, 50, 25, 25, 5, 0.1)
    prob[2, 2] = 0.9
    cands, _ = roi.find_candidates(prob, (50, 50), threshold=0.15, min_pixels=2)
    assert cands == []


def test_expand_box_is_square_contains_box_and_stays_in_frame():
    box = roi.Box(5, 10, 25, 20)
    crop = roi.expand_box(box, (200, 100), margin=0.5, min_side=16)
    assert crop.w == crop.h == 40
    assert roi.expand_box(box, (200, 100), margin=0.5, min_side=48).w == 48
    assert crop.x0 >= 0 and crop.y0 >= 0 and crop.x1 <= 200 and crop.y1 <= 100
    assert crop.x0 <= box.x0 and crop.x1 >= box.x1 and crop.y0 <= box.y0 and crop.y1 >= box.y1
    edge = roi.expand_box(roi.Box(190, 90, 200, 100), (200, 100), margin=0.5, min_side=48)
    assert (edge.x1, edge.y1) == (200, 100) and edge.w == 48


def test_expand_box_in_a_frame_smaller_than_min_side():
    crop = roi.expand_box(roi.Box(1, 1, 3, 3), (20, 10), min_side=48)
    assert crop.w == crop.h == 10 and crop.x1 <= 20 and crop.y1 <= 10


def test_merge_boxes_merges_overlaps_only():
    a, b, c = roi.Box(0, 0, 10, 10), roi.Box(3, 3, 13, 13), roi.Box(50, 50, 60, 60)
    merged = roi.merge_boxes([a, b, c])
    assert sorted((m.x0, m.y0, m.x1, m.y1) for m in merged) == [(0, 0, 13, 13), (50, 50, 60, 60)]
    assert len(roi.merge_boxes([a, c])) == 2


def test_merge_boxes_keeps_a_small_crop_inside_a_large_one_apart():
    big, tiny, twin = roi.Box(0, 0, 400, 400), roi.Box(300, 300, 360, 360), roi.Box(100, 100, 420, 420)
    assert len(roi.merge_boxes([big, tiny])) == 1  # without a limit it disappears into the big crop
    kept = roi.merge_boxes([big, tiny, twin], max_ratio=2.0)
    assert sorted((m.x0, m.y0, m.x1, m.y1) for m in kept) == [(0, 0, 420, 420), (300, 300, 360, 360)]


def test_zoom_size_follows_crop():
    assert roi.zoom_size(90) == 160
    assert roi.zoom_size(200) == 224
    assert roi.zoom_size(5000, (160, 224)) == 224


def test_zoom_score_prefers_a_crisp_central_object_over_texture():
    crisp = _disc(160, 160, 80, 80, 30)
    rng = np.random.default_rng(0)
    texture = rng.uniform(0.3, 0.9, (160, 160)).astype(np.float32)
    touching = _disc(160, 160, 0, 80, 60)
    assert roi.zoom_score(crisp) > 0.8
    assert roi.zoom_score(texture) < 0.3
    assert roi.zoom_score(touching) < roi.zoom_score(crisp)
    assert roi.zoom_score(np.zeros((50, 50), np.float32)) == 0.0
    seed_elsewhere = np.zeros((160, 160), bool)
    seed_elsewhere[:10, :10] = True
    assert roi.zoom_score(crisp, seed_elsewhere) < roi.zoom_score(crisp, crisp > 0)


def test_paste_feathers_into_base():
    base = np.zeros((100, 100), np.float32)
    patch = np.ones((40, 40), np.float32)
    roi.paste(base, patch, roi.Box(30, 30, 70, 70))
    assert base[50, 50] == pytest.approx(1.0)
    assert 0.0 < base[30, 50] < 0.2  # border of the box blends
    assert base[10, 10] == 0.0
    base2 = np.full((10, 10), 0.5, np.float32)
    roi.paste(base2, np.zeros((4, 4), np.float32), roi.Box(0, 0, 4, 4), mode="max")
    assert (base2 == 0.5).all()  # max mode only adds
    base3 = np.zeros((100, 100), np.float32)
    owned = np.zeros((40, 40), bool)
    owned[:, :20] = True  # another object's pixels
    roi.paste(base3, patch, roi.Box(30, 30, 70, 70), mode="max", exclude=owned)
    assert base3[50, 60] == pytest.approx(1.0) and base3[50, 40] == 0.0
    assert 0.0 < base3[30, 60] < 0.2  # feathered at the border like a blend


def test_propose_splits_a_flood_at_higher_thresholds():
    flood = np.full((100, 100), 0.4, np.float32)
    flood += _disc(100, 100, 30, 30, 4, 0.55)  # a small object inside a texture flood
    small, large, labels = roi.propose(flood, (1000, 1000), thresholds=(0.15, 0.6), small_box_frac=0.12)
    assert len(large) == 1 and large[0].box.area == 1000 * 1000
    assert len(small) == 1 and small[0].box.x0 >= 250 and small[0].box.x1 <= 350
    assert set(np.unique(labels)) == {small[0].label, large[0].label}
    only_low, big, _ = roi.propose(flood, (1000, 1000), thresholds=(0.15,), small_box_frac=0.12)
    assert only_low == [] and len(big) == 1


def test_add_absorbed_frees_rare_blobs_from_a_soft_flood_only():
    support = np.full((100, 100), 0.3, np.float32)  # the network lights the whole surface up softly
    support[60:90, 60:90] = 0.9  # ... and is sure of one subject
    rare = (_disc(100, 100, 30, 30, 4) > 0) | (_disc(100, 100, 75, 75, 4) > 0)  # a button on the surface, a part of the subject
    detect = np.maximum(support, rare * 0.6)
    small, large, labels = roi.propose(detect, (1000, 1000), thresholds=(0.15,), small_box_frac=0.12)
    assert small == [] and len(large) == 1  # one frame-sized blob: nothing would be zoomed
    out = roi.add_absorbed(rare * 0.6, support, small, large, labels, (1000, 1000), small_box_frac=0.12)
    assert len(out) == 1 and 250 <= out[0].box.x0 and out[0].box.x1 <= 350  # the button, not the subject's part
    assert out[0].peak == pytest.approx(0.6)  # its value in the map it came from
    assert (labels == out[0].label).sum() == rare[20:40, 20:40].sum()  # its pixels carry its own label
    assert labels[75, 75] == large[0].label
    assert roi.add_absorbed(rare * 0.6, support, out, large, labels, (1000, 1000)) == out  # already a candidate: not twice
    assert roi.add_absorbed(rare * 0.6, support, [], [], labels, (1000, 1000)) == []  # nothing swallowed without a large blob


def test_add_rare_parts_adds_a_dropped_bead_but_nothing_that_runs_out_of_the_crop():
    """An earring's hook came back from the zoom, its bead (a flat disc) did not; the frame's rare
    colours have both. The bead joins; a rare band running on past the crop's edge does not, nor a
    rare blob that does not touch the object."""
    yy, xx = np.mgrid[:120, :120]
    patch = np.zeros((120, 120), np.float32)
    patch[20:60, 52:64] = 0.95  # the hook (480 px)
    bead = (yy - 72) ** 2 + (xx - 58) ** 2 < 12**2  # 450 px: under twice the hook
    rare = bead.copy()
    rare[20:60, 52:64] = True  # the hook's colour is rare too
    out = roi.add_rare_parts(patch, rare)
    assert out is not patch and (out[bead] >= 0.9).all()
    assert (out[20:60, 52:64] == patch[20:60, 52:64]).all()  # what the zoom had stays as it was

    band = np.zeros_like(rare)
    band[0:62, 10:20] = True
    band[58:62, 10:51] = True  # touches the hook's foot and runs up out of the crop
    far = (yy - 100) ** 2 + (xx - 100) ** 2 < 8**2  # a blob of its own, away from the object
    out = roi.add_rare_parts(patch, band | far)
    assert (out[band | far] < 0.5).all()

    huge = np.zeros_like(rare)
    huge[5:115, 5:115] = True  # far more than the object: not a part of it
    assert roi.add_rare_parts(patch, huge) is patch
    assert roi.add_rare_parts(np.zeros_like(patch), rare).max() == 0.0  # nothing accepted, nothing to join

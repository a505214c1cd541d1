"""bench.shadow_trace's per-frame counts: where the shadow area is lit, stage by stage and by distance."""

from __future__ import annotations

import numpy as np

from bench.shadow_trace import DIST_BINS, trace


def test_trace_counts_the_shadow_through_the_stages_and_by_distance_from_the_outline():
    alpha = np.zeros((100, 100), np.uint8)
    alpha[20:50, 20:80] = 255  # the object
    shadow = np.zeros_like(alpha)
    shadow[50:90, 20:80] = 255  # its shadow below it, 40 rows
    shadow[30:40, 30:40] = 255  # marked under the object: not counted
    raw = np.zeros((100, 100), np.float32)
    raw[20:70, 20:80] = 0.9  # the network lights the object and 20 rows of shadow
    after = raw.copy()
    after[53:70] = 0.0  # the step leaves 3 rows next to the outline
    final = (after * 255).astype(np.uint8)
    final[50:51] = 0  # post-processing takes one more
    t = trace(alpha, shadow, raw, after, final)
    assert t["shadow_px"] == 40 * 60
    assert t["lit"] == 20 * 60 and t["after_step"] == 3 * 60 and t["final"] == 2 * 60
    assert len(t["final_by_dist"]) == len(t["px_by_dist"]) == len(DIST_BINS)
    # rows 51 and 52 lie 2 and 3 px from the outline (the first object-free row is 1): the 2-4 bin
    assert t["final_by_dist"][1] == 2 * 60 and sum(t["final_by_dist"]) == t["final"]
    assert sum(t["px_by_dist"]) == t["shadow_px"]
    # the network lit rows 50-69 (1 to 20 px out), the step left rows 50-52 (1 to 3 px)
    assert sum(t["lit_by_dist"]) == t["lit"] and sum(t["after_step_by_dist"]) == t["after_step"]
    assert t["after_step_by_dist"][0] == 60 and t["after_step_by_dist"][1] == 2 * 60
    assert t["lit_by_dist"][4] == 5 * 60 and t["lit_by_dist"][5] == 0  # rows 65-69 lie 16-20 px out


def test_shares_give_each_distance_bin_its_area_and_the_share_of_its_own_pixels_lit():
    from bench.shadow_trace import _shares

    alpha = np.zeros((100, 100), np.uint8)
    alpha[20:50, 20:80] = 255
    shadow = np.zeros_like(alpha)
    shadow[50:90, 20:80] = 255
    raw = np.zeros((100, 100), np.float32)
    raw[20:54, 20:80] = 0.9  # rows 50-53: 1 to 4 px out (bins: 0-2 row 50, 2-4 rows 51-52, 4-8 rows 53-56)
    final = (raw * 255).astype(np.uint8)
    s = _shares([trace(alpha, shadow, raw, raw, final)])
    assert abs(sum(s["area_by_dist"]) - 1) < 1e-9
    assert s["lit_at_dist"][:3] == [1.0, 1.0, 0.25] and s["lit_at_dist"][-1] == 0.0
    assert s["final_at_dist"] == s["lit_at_dist"] and s["area_by_dist"][0] == 1 / 40


def test_lit_shadow_features_are_taken_at_the_shadow_pixels_the_network_lit():
    from bench.shadow_trace import lit_shadow_features
    from workers.engine.shadow import FEATURES

    rgb = np.full((160, 200, 3), 200, np.uint8)
    rgb[40:80, 60:120] = (30, 60, 160)  # the object
    rgb[80:100, 60:120] = 110  # its shadow below: the backdrop darkened
    alpha = np.zeros((160, 200), np.uint8)
    alpha[40:80, 60:120] = 255
    shadow = np.zeros_like(alpha)
    shadow[80:100, 60:120] = 255
    raw = np.zeros((160, 200), np.float32)
    raw[40:90, 60:120] = 0.9  # the network lights the object and half the shadow
    x = lit_shadow_features(rgb, alpha, shadow, raw, side=512)
    assert x.shape == (10 * 60, len(FEATURES))
    assert np.median(x[:, FEATURES.index("log_lum_ratio")]) < -0.3  # darker than the backdrop behind

"""bench.cut_edges: the cut between what the shadow step took and what it kept, measured on a drawn frame."""

from __future__ import annotations

import math

import cv2
import numpy as np

from bench import cut_edges


def _frame():
    """A dark disc on light grey, with a shadow beside it (same grey, darker: no edge at the disc's
    side that the shadow does not have) and a chunk of the disc itself taken away."""
    rgb = np.full((200, 300, 3), 200, np.uint8)
    cv2.circle(rgb, (150, 100), 50, (40, 40, 40), -1)
    alpha = np.zeros((200, 300), np.uint8)
    cv2.circle(alpha, (150, 100), 50, 255, -1)
    shadow = np.zeros((200, 300), np.uint8)
    cv2.rectangle(shadow, (170, 80), (260, 120), 1, -1)
    shadow[alpha > 0] = 0  # beside the disc, touching it
    rgb[shadow > 0] = 150
    before = np.maximum(alpha / 255.0, shadow.astype(float)).astype(np.float32)
    after = before.copy()
    after[shadow > 0] = 0.0  # the shadow taken: cut along the disc's outline
    after[60:80, 120:180] = 0.0  # a chunk of the disc taken: cut through its flat inside
    after[alpha == 0] = np.minimum(after[alpha == 0], before[alpha == 0])
    return rgb, alpha, before, after


def test_regions_tell_chunks_from_shadows_by_the_edge_along_the_cut():
    rgb, alpha, before, after = _frame()
    rows = cut_edges.regions(rgb, alpha, before, after, min_px=20)
    assert len(rows) == 2
    chunk = next(r for r in rows if r["object_share"] > 0.5)
    shade = next(r for r in rows if r["object_share"] <= 0.5)
    assert chunk["object_share"] == 1.0 and shade["object_share"] == 0.0
    # the disc's flat inside has no edge where the chunk was cut; the shadow was cut on the outline
    assert cut_edges.ratio(chunk) < 0.5 < cut_edges.ratio(shade)
    assert cut_edges.auc(rows) == 1.0
    # the shadow is the backdrop at 150 of 200, open on its far side, and a fifth of the disc's size
    assert abs(shade["darkness"] - 0.75) < 0.02
    assert 0.3 < shade["open_rim"] < 1.0
    assert 0.0 < chunk["of_subject"] < shade["of_subject"] < 1.0


def test_auc_is_undefined_with_one_kind_and_nothing_taken_gives_no_rows():
    rgb, alpha, before, _ = _frame()
    assert cut_edges.regions(rgb, alpha, before, before.copy()) == []
    rows = [{"area": 10, "object_share": 1.0, "cut_edge": 5.0, "outline_edge": 10.0}]
    assert math.isnan(cut_edges.auc(rows))


def test_one_decision_fitted_on_the_cues_is_scored_per_source_with_frames_held_out():
    rng = np.random.default_rng(0)

    def rows(n_frames, chunk_open_rim):
        out = []
        for f in range(n_frames):
            for chunk in (True, False):
                out.append({"frame": f"f{f}", "area": int(rng.integers(50, 500)), "object_share": 1.0 if chunk else 0.0,
                            "cut_edge": 10.0, "outline_edge": 20.0, "darkness": float(rng.uniform(0.5, 1.0)),
                            "open_rim": chunk_open_rim if chunk else 0.8, "of_subject": float(rng.uniform(0.01, 0.5))})
        return out

    # source "a": chunks are enclosed, a cue the fit can learn; source "b": chunks look like backdrop
    result = cut_edges.fit_cv({"a": rows(20, 0.1), "b": rows(20, 0.8)})
    assert set(result) == {"a", "b", "all"}
    assert result["a"] > 0.9
    assert 0.3 < result["b"] < 0.7  # nothing tells its chunks apart

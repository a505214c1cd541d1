"""The object-vs-backdrop step's region gate (workers/engine/shadow_gate.py), its trainer
(training/shadow_gate.py) and its place in the step (steps.shadows)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from workers.engine import shadow, shadow_gate, steps
from workers.engine.config import EngineConfig
from workers.engine.mlp import Classifier


def _region(h=100, w=140):
    """A calm backdrop, a dark disc the network lit (before) and the step kept, and its shadow: lit
    by the network, taken by the step (after)."""
    rng = np.random.default_rng(0)
    img = np.full((h, w, 3), (200, 190, 170), np.float32) + rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    back = np.full((h, w, 3), (200, 190, 170), np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - 45) ** 2 + (xx - 60) ** 2 < 15**2
    sh = ((yy - 55) ** 2 + (xx - 72) ** 2 < 18**2) & ~disc
    img[sh] *= 0.6
    img[disc] = (40, 60, 160)
    before = np.where(disc, 1.0, np.where(sh, 0.7, 0.0)).astype(np.float32)
    after = np.where(disc, 1.0, 0.0).astype(np.float32)
    return img, before, after, back, disc, sh


def test_features_describe_what_the_step_took():
    img, before, after, back, disc, sh = _region()
    x = shadow_gate.features(img, before, after, back, 0.05)
    f = dict(zip(shadow_gate.FEATURES, x.tolist()))
    assert len(x) == len(shadow_gate.FEATURES)
    assert f["taken_of_lit"] == pytest.approx(sh.sum() / (sh | disc).sum(), rel=1e-4)
    assert f["taken_dark"] == pytest.approx(np.log(0.6), abs=0.05)  # the backdrop times 0.6
    assert f["taken_chroma"] < 0.03  # a shadow keeps the backdrop's hue
    assert 0.3 < f["taken_open_rim"] < 1.0  # the shadow's rim: partly the disc it leans on
    assert f["taken_p"] == pytest.approx(0.7)
    assert f["lit_border"] == 0.0 and f["view_of_frame"] == pytest.approx(0.05)
    assert f["back_std"] < 0.05  # a calm backdrop


def test_nothing_taken_leaves_nothing_to_decide():
    img, before, _, back, _, _ = _region()
    assert shadow_gate.features(img, before, before.copy(), back, 0.05) is None


def test_a_subject_the_step_cut_into_reads_differently_from_a_shadow():
    img, before, after, back, disc, sh = _region()
    shadow_x = shadow_gate.features(img, before, after, back, 0.05)
    # the step takes half of the lit disc itself: its own colour, enclosed by what stays
    chunk = disc & (np.arange(img.shape[1])[None, :] < 60)
    cut = np.where(chunk, 0.0, before).astype(np.float32)
    chunk_x = shadow_gate.features(img, before, cut, back, 0.05)
    f_sh, f_ch = (dict(zip(shadow_gate.FEATURES, v.tolist())) for v in (shadow_x, chunk_x))
    assert f_ch["taken_chroma"] > f_sh["taken_chroma"] + 0.1
    assert f_ch["taken_p"] > f_sh["taken_p"]


def _gate_file(path, weight: float) -> None:
    """A gate that answers by the sign of `taken_of_lit` (weight > 0: the step helps where it took much)."""
    n = len(shadow_gate.FEATURES)
    w = np.zeros((n, 1), np.float32)
    w[0, 0] = weight
    clf = Classifier(np.zeros(n, np.float32), np.ones(n, np.float32), (w,), (np.zeros(1, np.float32),), shadow_gate.FEATURES)
    path.write_text(clf.to_json())


def test_the_step_skips_the_regions_its_gate_turns_off(tmp_path, monkeypatch):
    if shadow.load_classifier() is None:
        pytest.skip("no shipped classifier")
    img, before, after, back, disc, sh = _region(160, 200)
    rgb = np.clip(img, 0, 255).astype(np.uint8)
    cfg = replace(EngineConfig(), shadow_region_gate=0.5)
    plain = steps.PostState(replace(cfg, shadow_region_gate=0.0), rgb, before.copy(), [])
    steps.shadows(plain)
    assert (plain.prob[sh] < 0.5).mean() > 0.5  # the step alone takes the shadow
    for weight, takes in ((+50.0, True), (-50.0, False)):
        f = tmp_path / f"gate{weight}.json"
        _gate_file(f, weight)
        monkeypatch.setattr(shadow_gate, "load", lambda path=None, f=f: Classifier.from_json(f.read_text(), shadow_gate.FEATURES))
        state = steps.PostState(cfg, rgb, before.copy(), [])
        steps.shadows(state)
        if takes:
            np.testing.assert_array_equal(state.prob, plain.prob)
        else:
            np.testing.assert_array_equal(state.prob, before)


sklearn = pytest.importorskip("sklearn")


def test_fit_writes_a_gate_that_turns_the_step_off_where_it_hurts_photos(tmp_path):
    from training import shadow_gate as trainer

    rng = np.random.default_rng(0)
    for part, n, first in (("tune", 300, 0), ("ecssd", 800, 1)):
        idx = np.arange(first, first + n).astype(np.int32)
        x = rng.normal(size=(n, len(shadow_gate.FEATURES))).astype(np.float32)
        if part == "tune":
            x[:, 1] += 8.0  # catalog regions read differently (a calm backdrop, say)
        # the step helps catalog regions; on photos it hurts where the first feature is high
        gain = (np.full(n, 0.05) if part == "tune" else np.where(x[:, 0] > 0, -0.1, 0.02)).astype(np.float32)
        np.savez(tmp_path / f"{part}.npz", x=x, gain=gain, gain_image=gain, px=np.full(n, 1000), index=idx, part=np.array([part] * n))
    out = tmp_path / "shadow_gate.json"
    scores = trainer.fit([tmp_path / "tune.npz", tmp_path / "ecssd.npz"], out, max_tune_loss=0.0005, log=lambda *_: None)
    assert scores["chosen"]["tune_gain"] >= -0.0005
    assert scores["chosen"]["ecssd_gain"] > 0.5 * scores["oracle"]["ecssd_gain"] > 0
    clf = shadow_gate.load(str(out))
    x = np.zeros((2, len(shadow_gate.FEATURES)), np.float32)
    x[:, 0] = (-2.0, 2.0)
    keep, off = clf.predict(x)
    assert keep > scores["level"] > off  # on photos, the feature that carries the loss turns the step off
    assert json.loads(out.with_suffix(".scores.json").read_text())["level"] == scores["level"]

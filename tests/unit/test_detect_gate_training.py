"""The learned gate's trainer (training/detect_gate.py): fitted on rows of gains, it writes a model the
engine reads, and its level keeps the photos' loss within the bound it was given."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("sklearn")

from training import detect_gate  # noqa: E402
from workers.engine import gate  # noqa: E402


def _rows(path, seed=0):
    rng = np.random.default_rng(seed)
    fam = np.array(["tune"] * 300 + ["ecssd"] * 800)
    idx = np.concatenate([np.arange(300), np.arange(1, 801)])
    x = rng.normal(size=(len(fam), len(gate.FEATURES))).astype(np.float32)
    # the pass helps catalog frames whose first feature is high and costs photos whose first feature is low
    gain = np.where(fam == "tune", 0.2 * (x[:, 0] > 0) - 0.02, 0.01 * (x[:, 0] > 1.0) - 0.01 * (x[:, 0] < 1.0)).astype(np.float32)
    np.savez(path, x=x, gain=gain, gain_image=gain, family=fam, index=idx.astype(np.int32), n_frames=np.int32([300, 800]))


def test_fit_writes_a_gate_the_engine_reads_and_keeps_the_photo_loss_bound(tmp_path):
    rows, out = tmp_path / "rows.npz", tmp_path / "detect_gate.json"
    _rows(rows)
    scores = detect_gate.fit(rows, out, max_photo_loss=0.0005, log=lambda *_: None)
    assert scores["chosen"]["ecssd_gain"] >= -0.0005
    assert scores["chosen"]["tune_gain"] > 0.5 * scores["pass_on_every_gated_frame"]["tune_gain"] > 0
    clf = gate.load(out)
    x = np.zeros((2, len(gate.FEATURES)), np.float32)
    x[:, 0] = (-2.0, 2.0)
    low, high = clf.predict(x)
    assert high > scores["level"] > low  # the feature that carries the gain drives the decision
    assert json.loads(out.with_suffix(".scores.json").read_text())["level"] == scores["level"]

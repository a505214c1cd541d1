"""The cascade gate: when the engine looks harder for small objects (detect.needs_detection, gate.py)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workers.engine import gate
from workers.engine.config import EngineConfig
from workers.engine.detect import needs_detection
from workers.engine.mlp import Classifier


def test_the_cascade_gate_skips_detection_only_beside_a_blob_as_large_as_gate_box_frac():
    coarse = np.zeros((320, 320), np.float32)
    coarse[40:200, 40:200] = 0.9  # a confident subject whose box covers a quarter of the map
    cfg = EngineConfig()
    assert not needs_detection(coarse, (2000, 1500), cfg)
    # a stricter gate looks for small pieces beside it; the texture tests' large_box_frac is another knob
    assert needs_detection(coarse, (2000, 1500), replace(cfg, gate_box_frac=0.3))
    assert not needs_detection(coarse, (2000, 1500), replace(cfg, large_box_frac=0.3))
    assert needs_detection(coarse, (2000, 1500), replace(cfg, detection="always"))


def test_a_frame_with_only_small_blobs_is_always_looked_at_closer():
    coarse = np.zeros((320, 320), np.float32)
    coarse[100:140, 100:140] = 0.9
    assert needs_detection(coarse, (2000, 1500), EngineConfig())
    assert not needs_detection(coarse, (2000, 1500), replace(EngineConfig(), detection="never"))


def _catalog_like() -> tuple[np.ndarray, np.ndarray]:
    """A large product on a plain backdrop, with two faint pieces beside it (the map and the view)."""
    coarse = np.zeros((320, 320), np.float32)
    coarse[40:200, 40:200] = 0.9
    coarse[260:268, 250:258] = 0.3
    coarse[280:286, 60:66] = 0.25
    view = np.full((320, 320, 3), 235, np.uint8)
    view[40:200, 40:200] = (120, 60, 30)
    return coarse, view


def test_gate_features_describe_the_large_blob_and_what_lies_beside_it():
    coarse, view = _catalog_like()
    x = gate.features(coarse, view)
    assert x.shape == (len(gate.FEATURES),)
    f = dict(zip(gate.FEATURES, x))
    assert abs(f["box_frac"] - 160 * 160 / 320**2) < 1e-6 and f["big_fill"] == 1.0 and f["big_edges"] == 0
    assert f["out_blobs"] == np.float32(np.log1p(2)) and 0.29 < f["out_peak"] < 0.31
    assert f["border_std"] == 0.0  # a plain backdrop up to the frame's edges
    assert gate.features(np.zeros((320, 320), np.float32), view) is None  # nothing confident: no large blob to judge


def test_the_learned_gate_runs_detection_beside_a_large_blob_when_its_model_says_so(tmp_path):
    coarse, view = _catalog_like()
    n = len(gate.FEATURES)
    weights = np.zeros((n, 1), np.float32)
    weights[gate.FEATURES.index("out_blobs"), 0] = 4.0  # "faint blobs beside the big one mean small pieces"
    clf = Classifier(np.zeros(n, np.float32), np.ones(n, np.float32), (weights,), (np.float32([-3.0]),), gate.FEATURES)
    path = tmp_path / "gate.json"
    path.write_text(clf.to_json())
    assert gate.wants_detection(coarse, view, 0.5, path)  # sigmoid(4 log 3 - 3) = 0.87
    alone = coarse.copy()
    alone[240:] = 0.0
    assert not gate.wants_detection(alone, view, 0.5, path)  # no faint blobs: sigmoid(-3)
    assert not gate.wants_detection(coarse, view, 0.9, path)  # a stricter level


def test_the_shipped_gate_is_consulted_only_when_switched_on_and_given_the_view():
    coarse, view = _catalog_like()
    cfg = EngineConfig()
    assert not needs_detection(coarse, (2000, 1500), replace(cfg, learned_gate=0.0), view)
    assert needs_detection(coarse, (2000, 1500), replace(cfg, learned_gate=1e-9), view)  # any model says P > 0
    assert not needs_detection(coarse, (2000, 1500), replace(cfg, learned_gate=1e-9))  # no view, no learned gate

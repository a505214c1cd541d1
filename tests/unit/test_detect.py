"""The cascade gate: when the engine looks harder for small objects (detect.needs_detection)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from workers.engine.config import EngineConfig
from workers.engine.detect import needs_detection


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

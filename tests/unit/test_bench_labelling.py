"""bench.labelling records the masks the engine labels, and only while it runs."""

from __future__ import annotations

import cv2
import numpy as np

from bench import labelling as bench_labelling
from workers.engine import labelling, postprocess


def test_records_the_engines_masks_and_restores_the_labelling(engine):
    img = cv2.GaussianBlur(np.random.default_rng(3).integers(90, 170, (300, 400, 3), dtype=np.uint8), (0, 0), 3)
    cv2.circle(img, (200, 150), 80, (30, 60, 220), -1)
    cv2.circle(img, (350, 50), 12, (240, 240, 40), 4)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    masks = bench_labelling.recorded_masks(engine, [data])
    assert masks, "the engine labels at least the final alpha's objects"
    assert all(m.dtype == np.uint8 and m.ndim == 2 and m.flags.c_contiguous for m in masks)
    # restored: the engine's modules call the real function again
    assert postprocess.components_with_stats is labelling.components_with_stats
    assert bench_labelling.recorded_masks(engine, []) == []

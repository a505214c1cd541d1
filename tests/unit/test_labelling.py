"""The engine's labelling gives exactly OpenCV's default 8-connected labels and statistics."""

import cv2
import numpy as np
import pytest

from workers.engine.labelling import components, components_with_stats


def _masks():
    rng = np.random.default_rng(7)
    yield "speckle", (rng.random((301, 417)) > 0.6).astype(np.uint8)
    yield "sparse", (rng.random((240, 320)) > 0.97).astype(np.uint8)
    blobs = np.zeros((500, 640), np.uint8)
    for _ in range(40):
        cv2.circle(blobs, tuple(int(v) for v in rng.integers(0, 640, 2)), int(rng.integers(1, 60)), 1, -1)
    cv2.circle(blobs, (320, 250), 120, 0, 30)  # a ring cut through them
    yield "blobs", blobs
    yield "empty", np.zeros((33, 17), np.uint8)
    yield "full", np.ones((16, 9), np.uint8)
    yield "odd view", (rng.random((99, 131)) > 0.5).astype(np.uint8)[3:96, 5:128]


@pytest.mark.parametrize("name,mask", list(_masks()), ids=lambda v: v if isinstance(v, str) else "")
def test_labels_and_stats_match_opencv_default(name, mask):
    n, labels, stats, centroids = components_with_stats(mask)
    n0, labels0, stats0, centroids0 = cv2.connectedComponentsWithStats(mask, connectivity=8)
    assert n == n0
    np.testing.assert_array_equal(labels, labels0)
    np.testing.assert_array_equal(stats, stats0)
    np.testing.assert_allclose(centroids, centroids0)
    k, lab = components(mask)
    k0, lab0 = cv2.connectedComponents(mask, connectivity=8)
    assert k == k0
    np.testing.assert_array_equal(lab, lab0)

"""Connected components, 8-connected, by Grana's block-based algorithm (BBDT).

OpenCV's default for 8-connectivity (Spaghetti) and BBDT both scan 2×2 blocks and number the
components in the order they are first met, so labels and statistics are identical (a test checks
it); BBDT is the faster of the two on the engine's masks, which it labels a few dozen times per
image (`python -m bench.labelling` replays them through both).
"""

from __future__ import annotations

import cv2
import numpy as np


def components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """cv2.connectedComponents(mask, connectivity=8): (count including the background, labels)."""
    return cv2.connectedComponentsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)


def components_with_stats(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """cv2.connectedComponentsWithStats(mask, connectivity=8): (count, labels, stats, centroids)."""
    return cv2.connectedComponentsWithStatsWithAlgorithm(mask, 8, cv2.CV_32S, cv2.CCL_GRANA)

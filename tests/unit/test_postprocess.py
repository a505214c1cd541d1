"""Post-processing steps: each a pure function with an observable effect."""

from __future__ import annotations

import cv2
import numpy as np

from workers.engine import postprocess as pp


def _ring_scene(size=200, r_out=60, r_in=35, obj=(200, 160, 40), bg=(230, 230, 235)):
    img = np.empty((size, size, 3), np.uint8)
    img[:] = bg
    mask = np.zeros((size, size), np.uint8)
    c = size // 2
    cv2.circle(mask, (c, c), r_out, 255, -1)
    cv2.circle(mask, (c, c), r_in, 0, -1)
    img[mask > 0] = obj
    return img, mask


def test_guided_filter_keeps_constants_and_snaps_edges_to_the_guide():
    guide = np.zeros((60, 60), np.float32)
    guide[:, 30:] = 1.0
    flat = np.full((60, 60), 0.4, np.float32)
    assert np.allclose(pp.guided_filter(guide, flat, 4, 1e-3), 0.4, atol=1e-4)
    blurry = cv2.GaussianBlur(guide, (0, 0), 4)
    sharp = pp.guided_filter(guide, blurry, 4, 1e-4)
    assert abs(sharp[30, 27] - 0) < abs(blurry[30, 27] - 0)
    assert abs(sharp[30, 32] - 1) < abs(blurry[30, 32] - 1)


def test_refine_edges_leaves_confident_regions_alone():
    img, mask = _ring_scene()
    prob = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), 3)
    prob[:20, :20] = 0.0
    out = pp.refine_edges(img, prob)
    assert (out[:10, :10] == 0).all()
    truth = mask > 0
    assert ((out > 0.5) == truth).mean() >= ((prob > 0.5) == truth).mean()


def test_size_aware_kernel_skips_tiny_objects():
    assert pp.size_aware_kernel(20) == 0
    assert pp.size_aware_kernel(300) % 2 == 1 and pp.size_aware_kernel(300) >= 3
    assert pp.size_aware_kernel(10_000) == 7


def test_morphology_with_tiny_kernel_keeps_a_thin_chain():
    m = np.zeros((100, 100), np.uint8)
    m[50:52, 10:90] = 255  # 2 px chain
    kept = pp.smooth_morphology(m, pp.size_aware_kernel(pp.equivalent_diameter(m)))
    assert (kept > 0).sum() == (m > 0).sum()
    erased = pp.smooth_morphology(m, 5)
    assert (erased > 0).sum() < (m > 0).sum() // 2


def test_remove_specks_respects_keep():
    m = np.zeros((200, 200), np.uint8)
    m[20:120, 20:120] = 255
    m[180:182, 180:182] = 255  # speck
    m[150:153, 20:23] = 255  # tiny but verified
    keep = np.zeros_like(m, bool)
    keep[148:156, 18:26] = True
    out = pp.remove_specks(m, keep=keep)
    assert out[181, 181] == 0 and out[151, 21] == 255 and out[50, 50] == 255


def test_small_hole_filled_but_ring_hole_kept():
    img, mask = _ring_scene()
    noisy = mask.copy()
    cv2.circle(noisy, (100, 148), 2, 0, -1)  # a pinhole in the ring body (object colour)
    out = pp.fill_small_holes(noisy, img)
    assert out[148, 100] == 255, "pinhole in the body is filled"
    assert out[100, 100] == 0, "the ring's real hole stays open"


def test_open_background_holes_opens_a_ring_kept_as_a_disc():
    img, mask = _ring_scene()
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)  # the network saw a disc
    out = pp.open_background_holes(disc, img)
    assert out[100, 100] == 0.0
    assert out[100, 100 + 48] == 1.0  # ring body stays


def test_open_background_holes_leaves_busy_backgrounds_alone():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)
    disc = np.zeros((200, 200), np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    assert pp.open_background_holes(disc, img) is disc


def test_colour_bleed_removes_halo_and_zeroes_far_background():
    img, mask = _ring_scene()
    alpha = cv2.GaussianBlur(mask, (0, 0), 2)
    out = pp.colour_bleed(img, alpha, band_px=10)
    edge = (alpha > 20) & (alpha < 200)
    obj = np.array([200, 160, 40], np.float32)
    bgc = np.array([230, 230, 235], np.float32)
    d_obj = np.linalg.norm(out[edge].astype(np.float32) - obj, axis=1).mean()
    d_bg_before = np.linalg.norm(img[edge].astype(np.float32) - obj, axis=1).mean()
    assert d_obj < d_bg_before
    assert (out[0, 0] == 0).all() and (out[alpha == 255] == img[alpha == 255]).all()
    assert not np.allclose(out[edge].astype(np.float32).mean(0), bgc, atol=10)


def test_push_pull_fill_extends_colours():
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)
    w = np.zeros((64, 64), np.float32)
    w[:, :32] = 1
    filled = pp.push_pull_fill(img, w)
    assert filled[32, 60, 0] > 200 and filled[32, 60, 1] < 30



def test_push_pull_fill_of_one_channel_equals_that_channel_of_a_colour_fill():
    rng = np.random.default_rng(4)
    img = rng.uniform(0, 255, (37, 53, 3)).astype(np.float32)
    w = (rng.random((37, 53)) < 0.3).astype(np.float32)
    assert np.array_equal(pp.push_pull_fill(img[..., 1].copy(), w), pp.push_pull_fill(img, w)[..., 1])

def test_open_background_holes_spares_large_subjects():
    img, mask = _ring_scene()
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    # the same ring whose own body covers a fifth of the frame is a large subject: its light interior stays
    assert pp.open_background_holes(disc, img, frame_area=img.shape[0] * img.shape[1]) is disc
    opened = pp.open_background_holes(disc, img, frame_area=40 * img.shape[0] * img.shape[1])
    assert opened[100, 100] == 0.0


def test_open_background_holes_opens_a_thin_ring_shot_close():
    # a hero shot: the ring's outline encloses a fifth of the frame, its metal is 4 % of it
    img, mask = _ring_scene(size=200, r_out=90, r_in=82)
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 90, 1.0, -1)
    frame_area = 3 * img.shape[0] * img.shape[1]
    assert np.count_nonzero(mask) < 0.05 * frame_area < np.count_nonzero(disc)
    opened = pp.open_background_holes(disc, img, frame_area=frame_area)
    assert opened[100, 100] == 0.0 and opened[100, 100 + 86] == 1.0


def test_open_background_holes_spares_a_large_subject_that_is_mostly_body():
    # outline over 5 % of the frame, body under it once the backdrop-coloured patch is gone, but the
    # patch is less than half of the subject: a subject's patch (a bird's wing the colour of the rock), not a hole
    img, mask = _ring_scene()
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    frame_area = 4 * img.shape[0] * img.shape[1]
    assert np.count_nonzero(mask) < 0.05 * frame_area < np.count_nonzero(disc)
    assert pp.open_background_holes(disc, img, frame_area=frame_area) is disc


def test_quick_look_keeps_a_close_ring_for_the_full_reading_and_lets_a_solid_subject_go():
    # a ring shot close and a solid disc of the same outline, both over 5 % of the frame
    img, mask = _ring_scene(size=200, r_out=90, r_in=82)
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 90, 1.0, -1)
    frame_area = 3 * img.shape[0] * img.shape[1]
    n, comp, stats, _ = cv2.connectedComponentsWithStats((disc > 0.5).astype(np.uint8))
    large = np.ones(n - 1, bool)
    reading = dict(bg_distance=10.0, min_frac=0.01, max_spread=8.0, textured=True, textured_min_frac=0.03)
    assert pp._maybe_rings(comp, stats, large, img, frame_area, 0.05, **reading).all()
    solid = img.copy()
    solid[disc > 0.5] = (200, 160, 40)  # the same outline, all metal: a subject, not a ring
    assert not pp._maybe_rings(comp, stats, large, solid, frame_area, 0.05, **reading).any()
    assert pp.open_background_holes(disc, solid, frame_area=frame_area) is disc


def test_open_background_holes_sees_past_a_contact_shadow():
    img, mask = _ring_scene()
    shadow = cv2.dilate(mask, np.ones((13, 13), np.uint8)) > 0
    img[shadow & (mask == 0)] = (200, 200, 205)  # darker rim right around the ring, not in the hole
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    assert pp.open_background_holes(disc, img)[100, 100] == 0.0


def test_hole_size_is_judged_against_the_object_around_it():
    """Beside a large object, a small ring's hole is still a ring's hole, not a pinhole."""
    m = np.zeros((400, 600), np.uint8)
    m[20:380, 20:380] = 255  # large object: 1 % of it would be ~1,300 px
    cv2.circle(m, (500, 200), 30, 255, -1)
    cv2.circle(m, (500, 200), 8, 0, -1)  # ~200 px hole of a ~2,600 px ring
    img = np.full((400, 600, 3), 200, np.uint8)
    img[m > 0] = (40, 90, 160)
    img[180:221, 480:521][m[180:221, 480:521] == 0] = (40, 90, 160)  # the hole even shows object colour
    out = pp.fill_small_holes(m, img)
    assert out[200, 500] == 0


def test_smooth_objects_sizes_the_kernel_per_object():
    m = np.zeros((600, 800), np.uint8)
    m[50:550, 50:550] = 255  # large: 7 px kernel
    m[300:302, 600:700] = 255  # a thin chain, 2 px thick, beside it
    whole = pp.smooth_morphology(m, pp.size_aware_kernel(pp.equivalent_diameter(m)))
    per_object = pp.smooth_objects(m)
    assert whole[301, 650] == 0  # one kernel for the union erases the chain
    assert per_object[301, 650] == 255 and per_object[300, 300] == 255


def test_hole_belongs_to_the_object_on_its_outer_boundary():
    """A jagged blob inside a pinhole shares more boundary with it than the object around it does."""
    m = np.zeros((460, 460), np.uint8)
    m[20:440, 20:440] = 255  # ~176,000 px: a 300-px hole is a pinhole (0.2 % ≈ 350 px)
    m[200:222, 200:222] = 0  # the hole, 22 x 22
    m[202:220, 202:204] = 255  # a comb inside it: long boundary, small area
    for x in range(205, 220, 3):
        m[202:220, x] = 255
    m[202:204, 202:220] = 255
    img = np.full((460, 460, 3), 230, np.uint8)
    img[20:440, 20:440] = (60, 80, 120)  # object colour, the hole included
    out = pp.fill_small_holes(m, img)
    assert out[210, 207] == 255 and out[219, 201] == 255


def test_fill_small_holes_matches_the_per_hole_reference_on_random_masks():
    """Only holes small against their enclosing object (found by flood fill from outside) are filled."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        m = np.zeros((120, 160), np.uint8)
        for _ in range(rng.integers(1, 4)):
            cv2.circle(m, (int(rng.integers(30, 130)), int(rng.integers(30, 90))), int(rng.integers(10, 40)), 255, -1)
        noise = rng.random(m.shape) < 0.01
        m[noise] = 0
        img = np.full((120, 160, 3), 250, np.uint8)
        img[(m > 0) | (pp.enclosed_holes(m)[0] > 0)] = (20, 120, 200)  # holes show object colour
        out = pp.fill_small_holes(m, img, max_frac=0.01)
        assert ((out > 0) | (m == 0)).all(), "nothing is removed"
        _, objects = cv2.connectedComponents((m > 0).astype(np.uint8), connectivity=8)
        labels, _ = pp.enclosed_holes(m)
        for hole in np.unique(labels[labels > 0]):
            region = labels == hole
            filled = pp.fill_holes(region.astype(np.uint8) * 255)
            ring = (cv2.dilate(filled, np.ones((3, 3), np.uint8)) > 0) & (filled == 0)
            owner = np.bincount(objects[ring & (objects > 0)]).argmax()
            expect = region.sum() <= 0.01 * (objects == owner).sum()
            assert (out[region] == 255).all() == expect


def _striped(size=200, a=(200, 110, 60), b=(225, 205, 160), period=14, seed=0):
    """Fabric-like stripes with weave noise: no single colour describes this background."""
    rng = np.random.default_rng(seed)
    x = np.arange(size)[None, :] + np.arange(size)[:, None] // 3
    img = np.where(((x // (period // 2)) % 2 == 0)[..., None], np.array(a), np.array(b)).astype(np.float32)
    return np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)


def test_open_background_holes_opens_a_ring_on_a_striped_fabric():
    img = _striped()
    _, mask = _ring_scene()
    img[mask > 0] = (150, 150, 165)  # a silver ring
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    out = pp.open_background_holes(disc, img)
    assert (out[85:116, 85:116] == 0.0).mean() > 0.9  # the hole shows the fabric: opened
    assert out[100, 100 + 48] == 1.0 and out[100 - 48, 100] == 1.0  # the ring body stays
    # switched off, textured backgrounds are left alone as before
    assert pp.open_background_holes(disc, img, textured=False) is disc


def test_open_background_holes_leaves_an_object_made_of_the_backgrounds_colours():
    img = _striped()
    obj = _striped(period=6, seed=1)  # the same two colours, finer: a patterned solid disc
    disc = np.zeros(img.shape[:2], np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    img[disc > 0] = obj[disc > 0]
    assert pp.open_background_holes(disc, img) is disc


def test_refine_edges_keeps_thin_parts_of_small_objects_and_leaves_large_ones_alone():
    """A 3-px chain link beside a large disc, both seen through an upsampled (blurred) map at
    2000x1500: the frame's radius (8) averages the link away; the small-object pass keeps it."""
    h, w = 1500, 2000
    truth = np.zeros((h, w), np.uint8)
    cv2.circle(truth, (400, 400), 40, 255, 3)  # a link: thin, small
    cv2.circle(truth, (1300, 800), 400, 255, -1)  # a large product
    img = np.full((h, w, 3), 100, np.float32)
    img[truth > 0] += 40  # a low-contrast product on a grainy backdrop
    grain = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 12, (h, w)).astype(np.float32), (0, 0), 1.0)
    img = np.clip(img + 3 * grain[..., None], 0, 255).astype(np.uint8)
    prob = cv2.GaussianBlur(truth.astype(np.float32) / 255.0, (0, 0), 2.5)
    plain = pp.refine_edges(img, prob)
    fine = pp.refine_edges(img, prob, small_radius=2)
    link = (slice(340, 460), slice(340, 460))
    iou = lambda p: float(((p > 0.5) & (truth > 0))[link].sum() / ((p > 0.5) | (truth > 0))[link].sum())  # noqa: E731
    assert iou(plain) < 0.7 and iou(fine) > 0.9  # measured 0.59 and 0.97
    large = (slice(350, 1250), slice(850, 1750))
    assert np.array_equal(fine[large], plain[large])  # the disc is too large for the small pass
    assert np.array_equal(pp.refine_edges(img, prob, radius=2, small_radius=2), pp.refine_edges(img, prob, radius=2))


def test_refine_edges_skips_the_small_pass_on_a_map_of_many_blobs():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (600, 800, 3), dtype=np.uint8)
    dots = np.zeros((600, 800), np.uint8)
    for y in range(10, 600, 24):
        for x in range(10, 800, 24):
            cv2.circle(dots, (x, y), 4, 255, -1)
    prob = cv2.GaussianBlur(dots.astype(np.float32) / 255.0, (0, 0), 1.5)
    assert cv2.connectedComponents((prob > 0.5).astype(np.uint8))[0] - 1 > pp.MAX_SMALL_REFINES
    assert np.array_equal(pp.refine_edges(img, prob, radius=6, small_radius=2), pp.refine_edges(img, prob, radius=6))
    few = prob.copy()
    few[:, 100:] = 0  # 100 blobs, under the cap: the small pass runs and changes the band
    assert not np.array_equal(pp.refine_edges(img, few, radius=6, small_radius=2), pp.refine_edges(img, few, radius=6))


def _button(img: np.ndarray, prob: np.ndarray, centre: tuple[int, int], radius: int, colour, hole_r: int) -> list[tuple[int, int]]:
    """A four-hole button drawn into `img`; the network's map sees it as a solid disc. Returns hole centres."""
    cx, cy = centre
    cv2.circle(img, centre, radius, colour, -1)
    cv2.circle(prob, centre, radius, 1.0, -1)
    off = int(radius * 0.3)
    holes = [(cx - off, cy - off), (cx + off, cy - off), (cx - off, cy + off), (cx + off, cy + off)]
    for h in holes:
        cv2.circle(img, h, hole_r, (60, 160, 120), -1)  # the backdrop's green shows through
    return holes


def test_open_background_holes_sizes_each_object_on_its_own():
    """A button's four holes (≈ 2 % of the button each) beside a large object: measured against the
    union of both they were too small to open, against the button they are holes."""
    img = np.empty((300, 400, 3), np.uint8)
    img[:] = (60, 160, 120)
    prob = np.zeros((300, 400), np.float32)
    holes = _button(img, prob, (80, 150), 50, (110, 30, 40), 7)
    cv2.rectangle(img, (180, 40), (380, 260), (200, 180, 60), -1)  # a solid box, 9× the button
    cv2.rectangle(prob, (180, 40), (380, 260), 1.0, -1)
    out = pp.open_background_holes(prob, img)
    assert all(out[y, x] == 0.0 for x, y in holes)
    assert out[150, 80] == 1.0 and out[150, 80 + 42] == 1.0  # the button's middle and rim stay
    assert (out[40:261, 180:381] == 1.0).all()


def test_open_background_holes_leaves_an_object_coloured_like_the_backdrop():
    """A calm backdrop whose colour the object itself wears (a lizard's skin on a sand backdrop):
    the object's own rim is counter-evidence, as on textures."""
    img = np.empty((200, 200, 3), np.uint8)
    img[:] = (200, 140, 130)
    disc = np.zeros((200, 200), np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    for i in range(-2, 3):  # the object: the backdrop's colour with dark spots, rim included
        for j in range(-2, 3):
            cv2.circle(img, (100 + 22 * i, 100 + 22 * j), 6, (90, 70, 60), -1)
    assert pp.open_background_holes(disc, img) is disc


def test_open_background_holes_in_a_crop_leaves_objects_its_border_cuts():
    img, mask = _ring_scene()
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    cut = (slice(0, 200), slice(0, 150))  # the crop's right border runs through the ring
    assert pp.open_background_holes(disc[cut], img[cut])[100, 100] == 0.0
    assert (pp.open_background_holes(disc[cut], img[cut], whole_only=True) == disc[cut]).all()
    whole = pp.open_background_holes(disc, img, whole_only=True)  # inside the crop: judged as before
    assert whole[100, 100] == 0.0


def _learned():
    from workers.engine import holes

    clf = holes.load_classifier()
    assert clf is not None, "workers/engine/data/hole_classifier.json is shipped"
    return holes, clf


def test_learned_holes_open_a_ring_on_a_textured_backdrop():
    holes, clf = _learned()
    img = _striped()
    _, mask = _ring_scene()
    img[mask > 0] = (150, 150, 165)  # a silver ring, its hole kept by the network
    disc = np.zeros(mask.shape, np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    x, regions = holes.region_features(disc, img)
    assert x.shape == (len(regions), len(holes.FEATURES)) and len(regions) > 0
    out = holes.open_learned_holes(disc, img, clf)
    assert (out[85:116, 85:116] == 0.0).mean() > 0.9  # the hole shows the fabric: opened
    assert (out[mask > 0] == 1.0).mean() > 0.98  # the ring body stays
    assert disc.min() == 0.0 and disc[100, 100] == 1.0  # the input is left as it was


def test_learned_holes_leave_a_solid_disc_with_a_light_patch():
    holes, clf = _learned()
    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(0, 5, (200, 200, 3)) + np.array([120, 90, 60]), 0, 255).astype(np.uint8)  # a wood-brown backdrop
    disc = np.zeros((200, 200), np.float32)
    cv2.circle(disc, (100, 100), 60, 1.0, -1)
    img[disc > 0] = (40, 60, 140)  # a blue enamel disc ...
    cv2.circle(img, (100, 100), 18, (215, 225, 240), -1)  # ... with a light centre patch: its own, not the backdrop
    assert holes.open_learned_holes(disc, img, clf) is disc

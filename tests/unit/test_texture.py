"""Texture floods told from real subjects by colour statistics; objects on a texture found by rare colours."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from bench import backgrounds
from tests.conftest import ecssd_image
from workers.engine import texture


def _wood(w=320, h=320, seed=0) -> np.ndarray:
    return backgrounds.wood(np.random.default_rng(seed), w, h)


def _disc(h, w, cx, cy, r) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m > 0


def test_a_grained_surface_is_homogeneous_and_a_photo_is_not():
    wood = _wood()
    photo = np.asarray(Image.open(ecssd_image(812)).convert("RGB").resize((320, 320)))
    assert texture.homogeneity(texture.colour_index(wood)) > 0.92
    assert texture.homogeneity(texture.colour_index(photo)) < 0.85


def test_a_flood_over_texture_is_marked_and_a_real_subject_is_not():
    wood = _wood()
    idx = texture.colour_index(wood)
    flood = np.zeros((320, 320), np.float32)
    flood[20:240, 30:300] = 0.95  # the network lit up most of the surface
    mask = texture.flood_mask(flood, idx)
    assert mask[100, 100] and mask.mean() > 0.5
    everywhere = np.full((320, 320), 0.9, np.float32)  # nothing left around the blob
    assert texture.flood_mask(everywhere, idx).all()

    # the same map over a large blue object on the same wood: a subject, not texture
    scene = wood.copy()
    subject = np.zeros((320, 320), bool)
    subject[20:240, 30:300] = True
    scene[subject] = (40, 70, 200)
    assert not texture.flood_mask(flood, texture.colour_index(scene)).any()
    # and nothing confident: nothing to mark
    assert not texture.flood_mask(np.zeros((320, 320), np.float32), idx).any()


def test_rare_colours_find_small_objects_on_wood():
    wood = _wood(640, 480)
    objects = _disc(480, 640, 500, 120, 14) | _disc(480, 640, 150, 380, 9)
    ring = _disc(480, 640, 300, 250, 20) & ~_disc(480, 640, 300, 250, 13)
    scene = wood.copy()
    scene[objects] = (60, 160, 70)  # green buttons
    scene[ring] = (40, 40, 45)  # a dark grey ring
    rare = texture.rare_colours(texture.colour_index(scene))
    truth = objects | ring
    assert rare[truth].mean() > 0.8, "the objects' colours are rare on wood"
    assert truth[rare].mean() > 0.9, "the wood itself is not"
    blobs = texture.object_blobs(rare)
    n, _ = cv2.connectedComponents(blobs.view(np.uint8))
    assert n - 1 == 3  # one blob per object
    assert blobs[250, 300], "the ring's blob is whole (a proposal, not a mask)"


def test_a_flood_that_follows_stripes_is_ragged_and_subjects_are_not():
    """The network lighting up a striped fabric: one large blob whose outline runs along every
    stripe. Real subjects, foliage-like edges included, have outlines a few times sqrt(area)."""
    stripes = np.zeros((320, 320), np.float32)
    for x in range(0, 320, 8):
        stripes[10:300, x : x + 5] = 0.9  # stripes...
    stripes[150:158, :] = 0.9  # ...joined into one blob by a band across them
    assert texture.ragged_blobs(stripes)[100, 40]

    subject = np.zeros((320, 320), np.float32)
    subject[_disc(320, 320, 160, 160, 100)] = 0.95
    rng = np.random.default_rng(0)
    fringe = _disc(320, 320, 160, 160, 106) & (rng.random((320, 320)) < 0.5)  # a ragged rim (hair)
    subject[fringe] = 0.95
    assert not texture.ragged_blobs(subject).any()
    small = np.zeros((320, 320), np.float32)
    small[100:130, 100:160:3] = 0.9
    small[100:103, 100:160] = 0.9  # a comb, as ragged as the stripes but small: left to the zoom's scoring
    assert not texture.ragged_blobs(small).any()


def _band(angle_deg: float, offset: float, width: float, size: int = 320) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    t = np.deg2rad(angle_deg)
    d = xx * np.cos(t) + yy * np.sin(t) - offset
    return np.abs(d) < width / 2


def test_separate_diagonal_stripes_are_a_pattern_and_a_hoop_or_two_subjects_are_not():
    """Diagonal stripes lit up one band at a time: smooth-edged separate blobs (not ragged), each
    thin in its box. Three or more of them are a fabric; one thin hoop, or two solid subjects, are not."""
    stripes = np.zeros((320, 320), np.float32)
    for k in range(4):
        stripes[_band(60, 100 + 80 * k, 14)] = 0.9
    assert not texture.ragged_blobs(stripes).any()
    marked = texture.striped_blobs(stripes)
    assert marked[stripes > 0.5].all()
    photo = texture.colour_index(np.asarray(Image.open(ecssd_image(812)).convert("RGB").resize((320, 320))))
    assert texture.flood_mask(stripes, photo)[stripes > 0.5].all()  # on any frame, homogeneous or not
    assert not texture.flood_mask(stripes, photo, min_stripes=0).any()
    assert not texture.striped_blobs(stripes, min_count=5).any()

    hoop = np.zeros((320, 320), np.float32)
    hoop[_disc(320, 320, 160, 160, 80) & ~_disc(320, 320, 160, 160, 72)] = 0.9  # thin, in a large box: alone
    assert not texture.striped_blobs(hoop).any()
    two = np.zeros((320, 320), np.float32)
    two[_disc(320, 320, 90, 160, 60) | _disc(320, 320, 240, 160, 60)] = 0.9
    two[_band(60, 300, 14)] = 0.9  # and one thin band: still not three
    assert not texture.striped_blobs(two).any()


def test_upright_stripes_across_the_frame_are_bands_and_a_pole_or_a_standing_subject_is_not():
    """Straight stripes lit up one by one: each a narrow box (not "large"), solid in it (not thin in
    its box), but running across the whole frame. Three or more are a fabric, either way round."""
    stripes = np.zeros((320, 320), np.float32)
    for x in range(20, 300, 40):
        stripes[:, x : x + 14] = 0.9
    assert not texture.striped_blobs(stripes).any() and not texture.ragged_blobs(stripes).any()
    marked = texture.banded_blobs(stripes)
    assert marked[stripes > 0.5].all() and not marked[:, 164:172].any()  # the gaps between stay
    photo = texture.colour_index(np.asarray(Image.open(ecssd_image(812)).convert("RGB").resize((320, 320))))
    assert texture.flood_mask(stripes, photo)[stripes > 0.5].all()
    assert not texture.flood_mask(stripes, photo, min_stripes=0).any()
    assert texture.banded_blobs(np.ascontiguousarray(stripes.T))[stripes.T > 0.5].all()  # lying stripes too

    pole = np.zeros((320, 320), np.float32)
    pole[:, 150:170] = 0.9  # one band alone: a pole, a lamp post
    pole[_disc(320, 320, 60, 200, 40)] = 0.9
    assert not texture.banded_blobs(pole).any()
    short = np.zeros((320, 320), np.float32)
    for x in range(20, 300, 40):
        short[100:220, x : x + 14] = 0.9  # bars that stop inside the frame: a fence, a barcode, left to the zoom
    assert not texture.banded_blobs(short).any()
    people = np.zeros((320, 320), np.float32)
    for x in (40, 140, 240):
        people[10:320, x : x + 60] = 0.9  # three standing subjects: tall but not thin
    assert not texture.banded_blobs(people).any()

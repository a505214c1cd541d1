"""The demo's own sample photos, cut out by the default engine, against the sample generator's exact
masks (shadows are background there). Target: IoU >= 0.9 on each. Samples the engine does not reach
yet are known gaps: for them the test guards the level reached so far (a floor under it, since int8
results move a little between processors) and names what is missing."""

from __future__ import annotations

import numpy as np
import pytest

from smallcut import samples

TARGET = 0.9
GAPS = {  # name: (floor, what is missing)
    "01-ring-gradient.jpg": (0.7, "the shadow seen through the ring's hole stays foreground"),
    "02-earrings-linen.jpg": (0.5, "linen inside the hoops is only partly opened"),
    "04-screw-marble.jpg": (0.75, "a fringe of marble veins along the thread"),
    "05-ring-marble.jpg": (0.25, "only the ring's lower arc is detected: the wider zoom still cuts its top and fills its hole"),
    "07-button-linen.jpg": (0.85, "the thread holes on linen stay closed"),
    "08-screws-gradient.jpg": (0.82, "soft shadow under the heads kept in part"),
}


def _cases():
    for (name, data), (mname, mask) in zip(samples.generate(), samples.masks()):
        assert name == mname
        yield pytest.param(name, data, mask, id=name)


def test_masks_match_the_photos_and_leave_shadows_out():
    for (name, _data), (_, mask) in zip(samples.generate(2), samples.masks(2)):
        assert mask.shape == (samples.SIZE[1], samples.SIZE[0])
        assert 0.001 < (mask > 127).mean() < 0.1, name


@pytest.mark.parametrize("name,data,mask", list(_cases()))
def test_demo_sample_cut_out_matches_its_exact_mask(engine, name, data, mask):
    import cv2

    from workers.engine import CutoutOptions

    out = engine.cutout(data, CutoutOptions(mask_only=True))
    alpha = cv2.imdecode(np.frombuffer(out.png, np.uint8), cv2.IMREAD_UNCHANGED)
    pred, gt = alpha > 127, mask > 127
    iou = (pred & gt).sum() / (pred | gt).sum()
    floor, missing = GAPS.get(name, (TARGET, ""))
    assert iou >= floor, f"IoU {iou:.3f} under {floor} ({missing or 'target'})"

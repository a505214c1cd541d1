"""The quality bench end to end on two real photos, and its aggregation on hand-made records."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import quality, report
from tests.photos import needs_ecssd


def _obj(method, bucket, iou, recall=1.0, hole_fg=None, bg="wood", kind="ring"):
    return {"method": method, "bucket": bucket, "iou": iou, "mae": 1 - iou, "bf": iou, "recall": recall, "precision": 1.0, "hole_fg": hole_fg, "background": bg, "kind": kind}


def test_summary_separates_misses_from_mask_quality():
    objects = [
        _obj("a", "<0.2%", 0.0, recall=0.0),  # missed outright
        _obj("a", "<0.2%", 0.9, hole_fg=0.5),
        _obj("a", "1-5%", 0.4, hole_fg=1.0),
    ]
    images = [{"method": "a", "background": "wood", "iou": 0.5, "mae": 0.1, "fp_frac": 0.01, "fp_blobs": 2, "seconds": 0.5, "cached": False}]
    s = report.summarize(objects, images, ["a"])["a"]
    small = s["buckets"]["<0.2%"]
    assert small["n"] == 2 and small["iou"] == pytest.approx(0.45)
    assert small["hit"] == 0.5 and small["miss"] == 0.5 and small["iou_found"] == pytest.approx(0.9)
    assert s["buckets"]["all"]["hole_fg"] == pytest.approx(0.75) and s["buckets"]["all"]["n_holes"] == 2
    assert "0.2-1%" not in s["buckets"]
    assert s["images"]["sec_per_image"] == 0.5 and s["images"]["with_fp"] == 1.0


def test_worst_cases_keep_the_lowest_scores(tmp_path):
    w = report.WorstCases(k=2, cell=32)
    img = np.zeros((40, 40, 3), np.uint8)
    mask = np.zeros((40, 40), np.uint8)
    for score in (0.9, 0.1, 0.5, 0.3):
        w.offer("m", score, f"s{score}", img, mask, mask, (0, 0, 40, 40))
    assert sorted(-t[0] for t in w.heaps["m"]) == [0.1, 0.3]
    assert w.save("m", tmp_path / "w.png") and (tmp_path / "w.png").stat().st_size > 0
    assert not w.save("other", tmp_path / "none.png")


@needs_ecssd
def test_quality_cli_on_real_photos(tmp_path, capsys):
    rc = quality.main(["--set", "ecssd-dev", "--limit", "2", "--methods", "smallcut", "--out", str(tmp_path)])
    assert rc == 0
    out = tmp_path / "ecssd-dev"
    for f in ("results.json", "summary.md", "chart.png", "worst_smallcut.png"):
        assert (out / f).stat().st_size > 0
    res = json.loads((out / "results.json").read_text())
    assert [i["name"] for i in res["images"]] == ["0001", "0002"]
    assert len(res["objects"]) == 2
    for o in res["objects"]:
        assert 0.0 <= o["iou"] <= 1.0 and 0.0 <= o["bf"] <= 1.0
    # the network finds a salient photo's main object: this is the no-regression floor
    assert res["summary"]["smallcut"]["buckets"]["all"]["iou"] > 0.5
    assert "per object, by size" in capsys.readouterr().out


@needs_ecssd
def test_methods_pick_a_model_by_name(tmp_path):
    from bench import methods

    with pytest.raises(SystemExit, match="unknown model"):
        methods.make("smallcut:no-such-model")
    rc = quality.main(["--set", "ecssd-dev", "--limit", "1", "--methods", "smallcut-noroi,smallcut-noroi:u2netp", "--out", str(tmp_path)])
    assert rc == 0
    res = json.loads((tmp_path / "ecssd-dev" / "results.json").read_text())
    by_method = {o["method"]: o["iou"] for o in res["objects"]}
    assert set(by_method) == {"smallcut-noroi", "smallcut-noroi:u2netp"}
    assert by_method["smallcut-noroi"] == by_method["smallcut-noroi:u2netp"] > 0.5  # the default is u2netp
    assert (tmp_path / "ecssd-dev" / "worst_smallcut-noroi_u2netp.png").exists()


def test_engine_overrides_are_typed_and_reach_the_engine():
    from bench import methods

    over = methods.engine_overrides(["detect_tile=224", "zoom_sizes=160,224", "accept_score=0.3"])
    assert over == {"detect_tile": 224, "zoom_sizes": (160, 224), "accept_score": 0.3}
    with pytest.raises(SystemExit, match="bad engine override"):
        methods.engine_overrides(["no_such_knob=1"])
    with pytest.raises(SystemExit, match="bad engine override"):
        methods.engine_overrides(["detect_tile"])
    assert methods.engine_overrides(["texture_floods=False"]) == {"texture_floods": False}
    assert methods.engine_overrides(["texture_floods=true"]) == {"texture_floods": True}
    with pytest.raises(SystemExit, match="true or false"):
        methods.engine_overrides(["texture_floods=maybe"])
    tuned = methods.make("smallcut", {"detect_tile": 224})
    assert tuned.engine(tuned.model, tuned.overrides).config.detect_tile == 224
    assert methods.make("smallcut").engine().config.detect_tile == 256


def test_backgrounds_by_size_and_the_catalog_like_aggregate():
    objects = [_obj("a", "<0.2%", 0.2, bg="photo"), _obj("a", "<0.2%", 0.8, bg="wood"),
               _obj("a", "<0.2%", 0.6, bg="gradient"), _obj("a", "1-5%", 0.9, bg="photo")]
    images = [{"method": "a", "background": bg, "iou": 0.5, "mae": 0.1, "fp_frac": 0.0, "fp_blobs": 0, "seconds": 0.1, "cached": False}
              for bg in ("photo", "wood", "gradient")]
    s = report.summarize(objects, images, ["a"])["a"]["backgrounds_by_size"]
    assert s["photo"]["<0.2%"] == {"n": 1, "iou": 0.2, "hit": 0.0}
    assert s[report.NOT_PHOTO]["<0.2%"]["n"] == 2 and s[report.NOT_PHOTO]["<0.2%"]["iou"] == pytest.approx(0.7)
    assert "1-5%" not in s[report.NOT_PHOTO]
    table = [t for t in report.tables(report.summarize(objects, images, ["a"]), "x") if "background and size" in t[0]][0]
    assert ["all but photos", "<0.2%", "a", "2", "0.700", "1.00"] in table[2]


def test_tile_peaks_tell_plain_backdrop_from_an_object():
    from bench import tiles

    h, w = 1200, 1600
    yy, xx = np.mgrid[:h, :w]
    rgb = np.dstack([210 + 25 * xx / w, 200 + 20 * yy / h, np.full((h, w), 190.0)]).astype(np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    rgb[1000:1040, 1400:1430] = (150, 120, 40)  # a small brass piece in the bottom-right tile
    alpha[1000:1040, 1400:1430] = 255
    peaks = tiles.tile_peaks(rgb, alpha)
    assert len(peaks) == 4 and [n > 0 for _, n in peaks] == [False, False, False, True]
    assert all(p < 30 for p, _ in peaks[:3]) and peaks[3][0] > 100

"""bench.diff: two quality runs compared object by object, main frames and clean twins apart."""

from __future__ import annotations

import json

import pytest

from bench import diff


def _obj(name, oid, iou, bucket="<0.2%", twin_of=None):
    return {"name": name, "object": oid, "iou": iou, "bucket": bucket, "method": "smallcut", "twin_of": twin_of,
            "kind": "ring", "background": "marble", "area_frac": 0.001}


def test_compare_counts_what_a_level_mean_hides():
    a = {("f1", 1): _obj("f1", 1, 0.8), ("f1", 2): _obj("f1", 2, 0.3), ("f2", 1): _obj("f2", 1, 0.9, "1-5%"),
         ("f1-clean", 1): _obj("f1-clean", 1, 0.8, twin_of="f1")}
    b = {("f1", 1): _obj("f1", 1, 0.3), ("f1", 2): _obj("f1", 2, 0.8), ("f2", 1): _obj("f2", 1, 0.95, "1-5%"),
         ("f1-clean", 1): _obj("f1-clean", 1, 0.45, twin_of="f1")}
    out = diff.compare(a, b)
    small = out["main"]["<0.2%"]
    # the bucket's mean did not move, yet one object was lost and one won
    assert small["n"] == 2 and small["iou_a"] == pytest.approx(small["iou_b"])
    assert (small["won"], small["lost"], small["better"], small["worse"]) == (1, 1, 1, 1)
    assert out["main"]["1-5%"]["won"] == 0 and out["main"]["1-5%"]["better"] == 0  # +0.05: not moved
    assert out["main"]["all"]["n"] == 3 and list(out["main"]) == ["<0.2%", "1-5%", "all"]
    assert out["clean twins"]["all"]["lost"] == 1 and out["clean twins"]["all"]["worse"] == 1


def test_main_prints_both_groups(tmp_path, capsys):
    def run(path, ious):
        objs = [_obj("f1", 1, ious[0]), _obj("f1-clean", 1, ious[1], twin_of="f1")]
        imgs = [{"name": n, "method": "smallcut", "iou": i, "mae": 1 - i, "fp_blobs": 0, "twin_of": t, "background": "marble"}
                for n, i, t in (("f1", ious[0], None), ("f1-clean", ious[1], "f1"))]
        path.write_text(json.dumps({"methods": ["smallcut"], "objects": objs, "images": imgs}))
        return path

    a, b = run(tmp_path / "a.json", (0.8, 0.9)), run(tmp_path / "b.json", (0.7, 0.3))
    assert diff.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "clean twins" in out and "f1-clean#1 ring on marble" in out and "MAE 0.1000 -> 0.7000" in out
    with pytest.raises(SystemExit, match="no records"):
        diff.main([str(a), str(b), "--method", "rembg"])

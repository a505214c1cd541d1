"""Training end to end on tiny inputs: data, loss (with distillation), checkpoint/resume, log.csv,
the plot, export and its verification."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training import data  # noqa: E402
from training.train import TrainConfig, train  # noqa: E402


def _cfg(steps: int, ids: dict, **extra) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "variant": "u2netp_fpn",
            "trainable": "head",
            "steps": steps,
            "batch": 1,
            "threads": 1,
            # batches drawn in the test's own process: a DataLoader worker forked from a process
            # that already runs other threads (onnxruntime's, the suite's servers) can hang
            "loader_workers": 0,
            "checkpoint_every": 1,
            "val_samples": 2,
            "data": {"size": 64, "composite_share": 0.5, **{k: list(v) for k, v in ids.items()}},
            **extra,
        }
    )


def _catalog_cfg(steps: int, catalog_dir: Path, ids: dict, **extra) -> TrainConfig:
    """The new data (engine scales, catalog crops) and distillation on, at tiny sizes."""
    return _cfg(steps, ids, variant="u2netp", trainable="all", distill_weight=1.0, distill_batch=1, val_samples=3, val_every=2,
                freeze_stages=1, data={"multiscale": True, "frame_size": 64, "tile_size": 64, "zoom_sizes": [32],
                                       "catalog_share": 0.5, "catalog_frames": [0, 1], "catalog_val_frames": [2, 2],
                                       "catalog_dir": str(catalog_dir), **{k: list(v) for k, v in ids.items()}},
                **extra)


def test_composites_hold_small_objects_with_exact_ground_truth(small_ecssd):
    cfg = data.DataConfig(size=128, composite_share=1.0, **small_ecssd)
    fracs = []
    for i in range(6):
        x, y, kind = data.sample(cfg, seed=3, index=i)
        assert kind == "composite" and x.shape == (3, 128, 128) and y.shape == (128, 128)
        assert 0.0 <= y.min() and y.max() <= 1.0
        fracs.append(float(y.mean()))
    assert all(0 < f <= 4 * data.AREA_RANGE[1] for f in fracs)  # 1-4 objects of 0.05-5 % each
    # a pure function of (seed, index): a resumed run sees the same stream
    again, _, _ = data.sample(cfg, seed=3, index=5)
    assert np.array_equal(again, x)


def test_evaluation_ids_are_refused():
    with pytest.raises(ValueError, match="evaluation only"):
        data.ids((790, 810))


def test_two_steps_resume_and_export(tmp_path, small_ecssd):
    import onnxruntime as ort

    from training import export
    from training.train import load_checkpoint

    out = tmp_path / "run"
    first = train(_cfg(1, small_ecssd), out, progress=False)
    assert first["step"] == 1 and (out / "last.pt").exists()
    with pytest.raises(SystemExit, match="--resume"):
        train(_cfg(2, small_ecssd), out, progress=False)  # an existing run is not overwritten nor silently continued
    second = train(_cfg(2, small_ecssd), out, progress=False, resume=True)  # same run folder, more steps: resumes
    assert second["step"] == 2
    assert [h["step"] for h in second["history"]] == [1, 2]
    assert second["val_start"] == first["val_start"]  # measured once, before the first step

    model, state = load_checkpoint(out / "last.pt")
    assert state["variant"] == "u2netp_fpn"
    moved = sum(float(p.detach().abs().sum()) for p in model.fusion.parameters())
    assert moved > 0  # the zero-initialised fusion left zero: it trained

    onnx_path = export.export(model, tmp_path / "m.onnx")
    assert export.verify(model, onnx_path, shapes=((2, 64, 96), (1, 45, 70))) < 1e-4
    inputs = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).get_inputs()
    assert inputs[0].shape == ["N", 3, "H", "W"]
    assert json.loads((out / "metrics.json").read_text())["step"] == 2


def test_default_rule_needs_a_small_object_gain_and_no_normal_size_loss():
    from training.compare import decide

    base = {"small": 0.50, "normal": 0.880}
    assert decide(base, {"small": 0.52, "normal": 0.876})[0]  # -0.004 on normal objects: allowed
    assert not decide(base, {"small": 0.52, "normal": 0.874})[0]  # -0.006: too much
    assert not decide(base, {"small": 0.50, "normal": 0.890})[0]  # no small-object gain


def test_catalog_data_with_distillation_logs_resumes_and_plots(tmp_path, catalog_dir, small_ecssd):
    from training import plot
    from training.train import load_checkpoint, make_model

    out = tmp_path / "run"
    first = train(_catalog_cfg(1, catalog_dir, small_ecssd), out, progress=False)
    assert set(first["val_start"]) == {"photo", "composite", "catalog"}
    second = train(_catalog_cfg(2, catalog_dir, small_ecssd), out, progress=False, resume=True)
    assert second["step"] == 2 and [h["step"] for h in second["history"]] == [1, 2]

    with (out / "log.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    # before training, step 1, the first run's closing validation, step 2 with its validation (val_every 2)
    assert [int(r["step"]) for r in rows] == [0, 1, 1, 2]
    assert all(float(r[k]) > 0 for r in (rows[1], rows[3]) for k in ("loss", "bce", "iou", "distill"))
    assert all(r["val_catalog_iou"] != "" for r in (rows[0], rows[2], rows[3])) and rows[1]["val_photo_iou"] == ""

    model, _ = load_checkpoint(out / "last.pt")
    start = make_model(_catalog_cfg(1, catalog_dir, small_ecssd))
    assert torch.equal(model.stage1.conv_in.conv.weight, start.stage1.conv_in.conv.weight)  # freeze_stages: 1
    assert not torch.equal(model.stage2.conv_in.conv.weight, start.stage2.conv_in.conv.weight)  # the rest trained

    png = plot.plot(out, tmp_path / "plot.png")
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"


def test_the_three_fine_tuning_configs_spend_equal_compute():
    from training.train import TrainConfig

    configs = {p.stem: TrainConfig.load(p) for p in sorted(Path("training/configs").glob("*_ft.yaml"))}
    assert set(configs) == {"u2netp_ft", "u2netp_cbam_ft", "u2netp_fpn_ft"}
    assert {c.variant for c in configs.values()} == {"u2netp", "u2netp_cbam", "u2netp_fpn"}
    same = {(c.steps, c.max_minutes, c.batch, c.data, c.distill_weight, c.distill_batch, c.trainable, c.lr_pretrained, c.threads)
            for c in configs.values()}
    assert len(same) == 1

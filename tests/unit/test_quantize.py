"""int8 builds: calibrated, checked against the float network, refused when they disagree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest

from tests.conftest import ecssd_image, ecssd_mask
from workers.engine import models, quantize


@pytest.fixture(scope="module")
def float_model(tmp_path_factory):
    """A private copy of the cached u2netp (symbolic dims), so builds land in a temp folder."""
    from smallcut.settings import Settings

    s = Settings()
    spec, path = models.resolve("u2netp", s.model_dir)
    copy = tmp_path_factory.mktemp("models") / "u2netp.dyn.onnx"
    shutil.copyfile(path, copy)
    return spec, copy


@pytest.fixture(scope="module")
def int8_build(float_model):
    """The default build: the shipped ranges (measured on real photos), checked on sample frames."""
    spec, path = float_model
    return quantize.build_default(path, spec)


def _float_inputs(model: onnx.ModelProto, node_name: str) -> bool:
    """True when the node's weight comes straight from an initializer (not through DequantizeLinear)."""
    node = next(n for n in model.graph.node if n.name == node_name)
    inits = {i.name for i in model.graph.initializer}
    return node.input[1] in inits


def test_build_quantizes_convs_but_keeps_the_fragile_ones_float(float_model, int8_build):
    spec, path = float_model
    assert int8_build.path == path.with_name(f"u2netp.int8-{quantize.RECIPE}.onnx") and int8_build.path.exists()
    assert int8_build.shipped_ranges and int8_build.calibration_images == 0 and int8_build.check_images == 12
    assert int8_build.agreement >= quantize.MIN_AGREEMENT
    model = onnx.load(str(int8_build.path))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 100 and ops.count("DequantizeLinear") > 200
    for name in quantize.KEEP_FLOAT["u2netp"]:
        assert _float_inputs(model, name), name
    assert not _float_inputs(model, "Conv_0")  # an ordinary conv is quantized
    assert not list(path.parent.glob("*.unchecked.onnx"))


def test_int8_network_scores_like_the_float_one_on_real_photos(float_model, int8_build):
    from workers.engine.net import SaliencyNet
    from workers.engine.resample import resize
    from workers.engine.session import create_session

    spec, path = float_model
    nets = {k: SaliencyNet(create_session(p, ["CPUExecutionProvider"], 2), spec) for k, p in (("fp32", path), ("int8", int8_build.path))}
    ious = {k: [] for k in nets}
    for n in (5, 10, 20, 40, 60, 80):
        rgb = cv2.cvtColor(cv2.imread(str(ecssd_image(n))), cv2.COLOR_BGR2RGB)
        truth = cv2.imread(str(ecssd_mask(n)), cv2.IMREAD_GRAYSCALE) > 127
        for k, net in nets.items():
            mask = cv2.resize(net.predict([resize(rgb, (320, 320))])[0], truth.shape[::-1]) > 0.5
            ious[k].append((mask & truth).sum() / (mask | truth).sum())
    fp32, int8 = np.mean(ious["fp32"]), np.mean(ious["int8"])
    assert fp32 > 0.8 and int8 > fp32 - 0.03, (fp32, int8)


def test_shipped_ranges_fit_the_published_weights_only(float_model):
    spec, path = float_model
    model = onnx.load(str(path))
    ranges = quantize.shipped_ranges(spec, model)
    assert ranges is not None and len(ranges) > 300
    outputs = {o for n in model.graph.node for o in n.output} | {i.name for i in model.graph.input}
    assert set(ranges) <= outputs  # measured on this graph's tensors
    assert all(lo <= hi for lo, hi in ranges.values())
    model.graph.initializer[0].raw_data = bytes(len(model.graph.initializer[0].raw_data))  # "retrained"
    assert quantize.shipped_ranges(spec, model) is None


def test_a_build_from_photos_calibrates_on_most_and_checks_on_the_rest(float_model, tmp_path):
    spec, path = float_model
    report = quantize.build(path, spec, quantize.sample_images(8), tmp_path / "photos.int8.onnx")
    assert not report.shipped_ranges and report.calibration_images == 6 and report.check_images == 2
    assert report.agreement >= quantize.MIN_AGREEMENT and report.path.exists()


def test_a_build_that_disagrees_is_refused_and_leaves_nothing(float_model, tmp_path):
    spec, path = float_model
    dst = tmp_path / "strict.int8.onnx"
    with pytest.raises(quantize.QuantizeError, match="disagrees"):
        quantize.build(path, spec, quantize.sample_images(6), dst, min_agreement=1.01)
    assert not dst.exists() and not list(tmp_path.glob("*.onnx"))
    with pytest.raises(quantize.QuantizeError, match="at least 4"):
        quantize.build(path, spec, quantize.sample_images(3), dst)


def test_int8_engine_cuts_out_what_the_float_engine_does(float_model, int8_build):
    from smallcut import samples
    from smallcut.settings import Settings
    from workers.engine import Engine

    _, path = float_model
    cpu = dict(providers=["CPUExecutionProvider"], intra_op_threads=2, model_path=path)
    fp32 = Engine.from_settings(Settings(precision="fp32", **cpu))
    int8 = Engine.from_settings(Settings(precision="int8", **cpu))
    auto = Engine.from_settings(Settings(precision="auto", **cpu))
    assert int8.net.session._model_path == str(int8_build.path)  # the checked build, not a new one
    assert auto.model_id == int8.model_id  # on the CPU "auto" is int8
    assert ":int8-" in int8.model_id and fp32.model_id != int8.model_id  # outputs of each are told apart
    _, data = samples.generate(1, seed=3)[0]
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    ref, got = fp32.matte(rgb).alpha > 127, int8.matte(rgb).alpha > 127
    assert ref.any()
    assert (got & ref).sum() / (got | ref).sum() > 0.8


def test_cli_quantize_from_a_folder_skips_non_images(float_model, tmp_path):
    from smallcut import samples

    _, path = float_model
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in samples.generate(5, seed=11):
        (folder / name).write_bytes(data)
    (folder / "notes.txt").write_text("not a photo")
    model = tmp_path / "m" / "u2netp.dyn.onnx"
    model.parent.mkdir()
    shutil.copyfile(path, model)
    env = {**os.environ, "SMALLCUT_MODEL_PATH": str(model)}
    cmd = [sys.executable, "-m", "smallcut.cli", "models", "quantize", "--images", str(folder)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "calibrated on 3 images, checked on 2" in proc.stdout
    assert (model.parent / f"u2netp.int8-{quantize.RECIPE}.onnx").exists()
    bad = subprocess.run([*cmd[:-1], str(tmp_path / "nope")], capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "is not a folder" in bad.stdout


def test_a_cache_that_cannot_be_written_gives_a_clear_error(float_model, tmp_path, monkeypatch):
    spec, path = float_model
    src = tmp_path / "u2netp.dyn.onnx"
    shutil.copyfile(path, src)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(quantize, "build", no_space)
    monkeypatch.setattr(quantize, "sample_images", lambda count=40: [])
    with pytest.raises(quantize.QuantizeError, match="smallcut models quantize"):
        quantize.ensure_int8(src, spec)
    assert not quantize.int8_path(src).exists()


def test_auto_falls_back_to_fp32_when_no_int8_build_can_be_made(float_model, monkeypatch, caplog):
    from smallcut.settings import Settings
    from workers.engine import Engine

    _, path = float_model

    def refused(*args, **kwargs):
        raise quantize.QuantizeError("int8 model disagrees with the float one")

    monkeypatch.setattr(quantize, "ensure_int8", refused)
    cpu = dict(providers=["CPUExecutionProvider"], intra_op_threads=2, model_path=path)
    with caplog.at_level("WARNING"):
        auto = Engine.from_settings(Settings(precision="auto", **cpu))
    assert ":int8-" not in auto.model_id and auto.net.session._model_path == str(path)
    assert "running fp32" in caplog.text
    with pytest.raises(quantize.QuantizeError):  # asked for int8 explicitly: no silent fallback
        Engine.from_settings(Settings(precision="int8", **cpu))


def test_precision_auto_is_int8_on_the_cpu_and_fp32_on_a_gpu():
    from workers.engine.session import precision_for

    cpu_only = ["CPUExecutionProvider"]
    wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert precision_for("auto", wanted, available=cpu_only) == "int8"
    assert precision_for("auto", wanted, available=["CUDAExecutionProvider", *cpu_only]) == "fp32"
    assert precision_for("auto", cpu_only, available=["CUDAExecutionProvider", *cpu_only]) == "int8"
    assert precision_for("fp32", wanted, available=cpu_only) == "fp32"
    assert precision_for("fp16", cpu_only, available=cpu_only) == "fp16"


def test_a_retrained_export_builds_with_its_fragile_convs_float(tmp_path):
    """u2netp_fpn (exported by training.export: PyTorch's node names) keeps the same two decoder convs
    float as the published file; quantized, they wrecked its masks (agreement about 0.54) and the
    build was refused, so the shipped retrained networks ran fp32 on the CPU."""
    from smallcut.settings import Settings

    spec, path = models.resolve("u2netp_fpn", Settings().model_dir)
    copy = tmp_path / "u2netp_fpn.dyn.onnx"
    shutil.copyfile(path, copy)
    report = quantize.build_default(copy, spec)
    assert report.agreement >= quantize.MIN_AGREEMENT
    model = onnx.load(str(report.path))
    assert quantize.keep_float_for(spec, model) == quantize.KEEP_FLOAT_EXPORTED
    for name in quantize.KEEP_FLOAT_EXPORTED:
        assert _float_inputs(model, name), name

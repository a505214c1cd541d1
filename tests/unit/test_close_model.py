"""A second network for the close passes (detection tiles and zooms): the dispatch, on the CPU.

The coarse pass over the whole frame always runs the main network; tiles and zooms run the close
one. With the same weights behind both, the output must be the single-network engine's, bit for bit.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from smallcut import samples
from smallcut.settings import Settings
from workers.engine import Engine, codec, models

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def small_frames() -> list[np.ndarray]:
    # the demo's small objects: their frames take the tiled detection and zooms
    return [codec.decode(data) for name, data in samples.generate() if any(k in name for k in ("ring", "earring", "screw"))]


def test_close_passes_run_on_the_close_network_and_the_coarse_pass_on_the_main_one(tmp_path, small_frames):
    s = Settings(providers=CPU, intra_op_threads=2, precision="fp32", close_model="")
    single = Engine.from_settings(s)
    assert single.close_net is single.net
    _, path = models.resolve("u2netp", s.model_dir)
    twin = tmp_path / "u2netp-twin.onnx"
    shutil.copyfile(path, twin)
    split = Engine.from_settings(s.model_copy(update={"close_model_path": twin}))
    assert split.close_net is not split.net
    assert "+close=" in split.model_id and split.model_id != single.model_id  # outputs are stamped apart
    assert small_frames
    for rgb in small_frames:
        before = (split.net.passes, split.close_net.passes)
        m_split = split.matte(rgb)
        m_single = single.matte(rgb)
        coarse, close = split.net.passes - before[0], split.close_net.passes - before[1]
        assert coarse == 1 and close >= 1, (coarse, close)
        assert m_split.passes == coarse + close == m_single.passes
        np.testing.assert_array_equal(m_split.alpha, m_single.alpha)


def test_the_default_engine_runs_one_network():
    engine = Engine.from_settings(Settings(providers=CPU, intra_op_threads=2))
    assert Settings().close_model == "" and engine.close_net is engine.net


def test_models_fetch_gets_the_close_network_too(tmp_path):
    import os
    import subprocess
    import sys

    # both shipped in the package: no download
    env = {**os.environ, "SMALLCUT_MODEL_DIR": str(tmp_path), "SMALLCUT_MODEL": "u2netp_fpn", "SMALLCUT_CLOSE_MODEL": "u2netp_cbam"}
    out = subprocess.run([sys.executable, "-m", "smallcut.cli", "models", "fetch"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert [line for line in out.stdout.splitlines() if line.endswith(".onnx")] == [
        str(tmp_path / "u2netp_fpn.dyn.onnx"), str(tmp_path / "u2netp_cbam.dyn.onnx")]


def test_the_same_model_named_for_the_close_passes_loads_once():
    s = Settings(providers=CPU, intra_op_threads=2, precision="fp32", close_model="u2netp")
    engine = Engine.from_settings(s)
    assert engine.close_net is engine.net and "+close=" not in engine.model_id


def test_a_network_with_its_own_zoom_judge_gets_it_and_others_the_stock_one(tmp_path, monkeypatch):
    from workers.engine import zoom_judge

    stock = tmp_path / "zoom_judge.json"
    monkeypatch.setattr(zoom_judge, "WEIGHTS", stock)
    (tmp_path / "zoom_judge.u2netp_close.json").write_text("{}")
    assert zoom_judge.weights_for("u2netp") == stock
    assert zoom_judge.weights_for("u2netp_cbam") == stock  # no judge of its own
    assert zoom_judge.weights_for("u2netp_close") == tmp_path / "zoom_judge.u2netp_close.json"
    # where a trainer writes each network's judge is where the engine looks for it
    assert zoom_judge.own_weights("u2netp") == stock
    assert zoom_judge.own_weights("u2netp_close") == zoom_judge.weights_for("u2netp_close")

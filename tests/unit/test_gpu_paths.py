"""GPU paths that run on any machine: per-shape sessions, the float16 copy, the shared-arena switch.

The CUDA provider itself needs a GPU (docs/gpu.md has the H100 figures); these check the logic
around it with the CPU provider, which runs the same graphs.
"""

from __future__ import annotations

import functools
import shutil

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import ecssd_image
from workers.engine import half, models
from workers.engine.net import BATCH_BUCKETS, SaliencyNet
from workers.engine.resample import resize
from workers.engine.session import create_session, share_gpu_arena

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def model():
    from smallcut.settings import Settings

    s = Settings()
    return models.resolve("u2netp", s.model_dir)


def _photo(n: int, side: int) -> np.ndarray:
    bgr = cv2.imread(str(ecssd_image(n)))
    return resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (side, side))


def test_a_session_per_shape_gives_the_shared_sessions_maps_with_padded_batches(model):
    spec, path = model
    shared = SaliencyNet(create_session(path, CPU, 2), spec)
    made = []

    def factory():
        made.append(1)
        return create_session(path, CPU, 2, quiet=True)

    per_shape = SaliencyNet(shared.session, spec, session_for_shape=factory)
    crops = [_photo(n, 160) for n in (801, 802, 803)] + [_photo(804, 224)]
    want = shared.predict(crops)
    got = per_shape.predict(crops)
    assert len(got) == 4 and all(g.shape == w.shape for g, w in zip(got, want))
    assert max(float(np.abs(g - w).max()) for g, w in zip(got, want)) < 1e-4  # the padding changes nothing
    # three 160² crops ran as one batch padded to 4, the 224² crop alone: two shapes, two sessions
    assert sorted(per_shape._sessions) == [(1, 3, 224, 224), (4, 3, 160, 160)] and len(made) == 2
    per_shape.predict(crops[:2])  # two 160² crops: bucket 2, a third session
    assert (2, 3, 160, 160) in per_shape._sessions and len(made) == 3
    per_shape.predict(crops[:3])  # the 4-batch again: its session is reused
    assert len(made) == 3


def test_sessions_beyond_the_cap_fall_back_to_the_shared_one(model):
    spec, path = model
    session = create_session(path, CPU, 2)
    net = SaliencyNet(session, spec, session_for_shape=functools.partial(create_session, path, CPU, 2, quiet=True),
                      max_sessions=1)
    a, b = _photo(805, 160), _photo(805, 224)
    first = net.predict([a])[0]
    second = net.predict([b])[0]
    assert len(net._sessions) == 1 and second.shape == (224, 224) and first.shape == (160, 160)
    assert net._session_for((1, 3, 224, 224)) is session


def test_warm_makes_every_bucket_of_every_side_and_nothing_on_the_cpu_path(model):
    spec, path = model
    session = create_session(path, CPU, 2)
    assert SaliencyNet(session, spec).warm((160, 224)) == 0
    net = SaliencyNet(session, spec, max_batch=4, session_for_shape=functools.partial(create_session, path, CPU, 2, quiet=True))
    assert net.warm((160, 160, 224)) == 2 * len([b for b in BATCH_BUCKETS if b <= 4])


def test_the_engine_on_cpu_keeps_one_session():
    from smallcut.settings import Settings
    from workers.engine import Engine

    engine = Engine.from_settings(Settings(providers=CPU, intra_op_threads=2))
    assert engine.net.session_for_shape is None and engine.net._sessions == {}


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="a CUDA build registers it")
def test_no_shared_gpu_arena_without_cuda(model, caplog):
    spec, path = model
    create_session(path, CPU, 2, shared_arena=True)  # CPU only: nothing to share, nothing registered
    assert share_gpu_arena(0) is False
    assert "no shared GPU arena" in caplog.text


def test_fp16_copy_is_built_once_atomically_and_agrees_with_the_float_network(model, tmp_path):
    spec, path = model
    src = tmp_path / "u2netp.dyn.onnx"
    shutil.copyfile(path, src)
    dst = half.ensure_fp16(src)
    assert dst == tmp_path / f"u2netp.fp16-{half.RECIPE}.onnx" and dst.exists()
    assert not list(tmp_path.glob("*.tmp")) and dst.stat().st_size < 0.6 * src.stat().st_size  # half the weights' bytes
    stamp = dst.stat().st_mtime_ns
    assert half.ensure_fp16(src) == dst and dst.stat().st_mtime_ns == stamp  # cached, not rebuilt
    f32 = SaliencyNet(create_session(src, CPU, 2), spec)
    f16 = SaliencyNet(create_session(dst, CPU, 2), spec)
    x = [_photo(n, 320) for n in (806, 807)]
    for a, b in zip(f32.predict(x), f16.predict(x)):
        assert b.dtype == np.float32  # float32 in and out: the engine feeds it as the float network
        ma, mb = a > 0.5, b > 0.5
        assert ma.sum() > 1000 and (ma & mb).sum() / (ma | mb).sum() > 0.97
        assert float(np.abs(a - b).mean()) < 0.01


def test_fp16_precision_names_its_outputs_apart(model, tmp_path):
    from smallcut.settings import Settings
    from workers.engine import Engine

    spec, path = model
    shutil.copyfile(path, tmp_path / spec.filename)
    engine = Engine.from_settings(Settings(providers=CPU, intra_op_threads=2, precision="fp16", model_dir=tmp_path))
    assert engine.model_id.startswith("u2netp:") and ":fp16-" in engine.model_id
    assert engine.net.session.get_inputs()[0].type == "tensor(float)"


def test_uses_accelerator_asks_what_the_session_would_run_on():
    from workers.engine.session import uses_accelerator

    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert uses_accelerator(both, available=both)
    assert not uses_accelerator(both, available=CPU)  # a CPU-only build: the wish for CUDA is skipped
    assert not uses_accelerator(CPU, available=both)

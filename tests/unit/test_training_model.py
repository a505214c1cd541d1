"""The PyTorch U2NETP reproduces the shipped ONNX model, and its variants start as that model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.conftest import ecssd_image  # noqa: E402
from workers.engine import models  # noqa: E402
from workers.engine.net import SaliencyNet  # noqa: E402

IMAGES = (801, 951)  # held-back ECSSD photos: real content, not noise


@pytest.fixture(scope="module")
def onnx_session():
    import onnxruntime as ort

    from smallcut.settings import Settings

    s = Settings()
    spec, path = models.resolve("u2netp", s.model_dir)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess, SaliencyNet(sess, spec), s.model_dir / spec.filename


def _inputs(net: SaliencyNet, size=(320, 320)) -> np.ndarray:
    imgs = []
    for n in IMAGES:
        rgb = cv2.cvtColor(cv2.imread(str(ecssd_image(n))), cv2.COLOR_BGR2RGB)
        imgs.append(net.normalise(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)))
    return np.stack(imgs)


def test_imported_weights_reproduce_the_onnx_model_on_real_photos(onnx_session):
    from training.onnx_import import pretrained

    sess, net, original = onnx_session
    x = _inputs(net)
    want = sess.run(None, {sess.get_inputs()[0].name: x})  # fused map + six side maps
    model = pretrained("u2netp", original)
    with torch.no_grad():
        got = [torch.sigmoid(t).numpy() for t in model.forward_logits(torch.from_numpy(x))]
    assert len(got) == len(want) == 7
    assert np.abs(got[0] - want[0]).max() < 1e-4  # the map the engine uses
    for g, w in zip(got[1:], want[1:]):
        assert np.abs(g - w).max() < 5e-4
    # and the maps are real saliency, not a degenerate constant that trivially agrees
    assert want[0].max() > 0.9 and want[0].min() < 0.1


@pytest.mark.parametrize("variant", ["u2netp", "u2netp_cbam", "u2netp_fpn"])
def test_fresh_variant_is_the_pretrained_network_and_can_learn(onnx_session, variant):
    from training.onnx_import import pretrained

    _, net, original = onnx_session
    x = torch.from_numpy(_inputs(net, (96, 72))[:1])
    base = pretrained("u2netp", original)
    model = pretrained(variant, original)
    with torch.no_grad():
        for a, b in zip(base.forward_logits(x), model.forward_logits(x)):
            assert torch.equal(a, b)
    # identity at the start, but not frozen there: the new parameters receive a gradient
    model.train()
    loss = sum(torch.nn.functional.binary_cross_entropy_with_logits(d, torch.zeros_like(d)) for d in model.forward_logits(x))
    loss.backward()
    # (plain u2netp has no new modules: its own layers learn, as in plain fine-tuning)
    new = [p for m in (model.new_modules() or model.pretrained_modules()) for p in m.parameters()]
    assert new and sum(float(p.grad.abs().sum()) for p in new if p.grad is not None) > 0

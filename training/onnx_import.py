"""Load the shipped u2netp.onnx weights into `training.u2netp.U2NETP`.

The exporter folded BatchNorm into the convolutions and renamed most initialisers to numbers, so
names are no help: the graph's Conv nodes, in graph order, are matched one-to-one with the
module's convolutions in execution order (recorded by hooks on one forward pass), and every pair
must agree on shape, dilation and padding before anything is copied.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .u2netp import U2NETP


def _onnx_convs(path: Path) -> list[dict]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out = []
    for node in model.graph.node:
        if node.op_type != "Conv":
            continue
        attrs = {a.name: list(a.ints) if a.ints else a.i for a in node.attribute}
        out.append(
            {
                "name": node.name,
                "weight": inits[node.input[1]],
                "bias": inits[node.input[2]] if len(node.input) > 2 else None,
                "dilation": tuple(attrs.get("dilations", [1, 1])),
                "pads": tuple(attrs.get("pads", [0, 0, 0, 0])[:2]),
            }
        )
    return out


def _convs_in_execution_order(model: U2NETP, size: int = 64) -> list[nn.Conv2d]:
    """The pretrained part's convolutions in the order one forward pass runs them."""
    pretrained = {id(c) for m in model.pretrained_modules() for c in m.modules() if isinstance(c, nn.Conv2d)}
    seen: list[nn.Conv2d] = []
    hooks = [
        c.register_forward_hook(lambda mod, *_: seen.append(mod))
        for m in model.pretrained_modules()
        for c in m.modules()
        if isinstance(c, nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            model.forward_logits(torch.zeros(1, 3, size, size))
    finally:
        for h in hooks:
            h.remove()
    order, ids = [], set()
    for c in seen:
        if id(c) in pretrained and id(c) not in ids:
            ids.add(id(c))
            order.append(c)
    return order


def load_onnx_weights(model: U2NETP, onnx_path: Path) -> U2NETP:
    """Copy every conv weight/bias of the ONNX graph into `model` (in place); returns it."""
    src = _onnx_convs(Path(onnx_path))
    dst = _convs_in_execution_order(model)
    if len(src) != len(dst):
        raise ValueError(f"{onnx_path} has {len(src)} convolutions, the module {len(dst)}")
    with torch.no_grad():
        for i, (s, d) in enumerate(zip(src, dst)):
            if tuple(s["weight"].shape) != tuple(d.weight.shape) or s["dilation"] != tuple(d.dilation) or s["pads"] != tuple(d.padding):
                raise ValueError(
                    f"conv #{i} ({s['name']}): onnx {s['weight'].shape} dil {s['dilation']} pad {s['pads']} "
                    f"vs module {tuple(d.weight.shape)} dil {d.dilation} pad {d.padding}"
                )
            d.weight.copy_(torch.from_numpy(np.array(s["weight"], np.float32)))
            bias = s["bias"] if s["bias"] is not None else np.zeros(d.out_channels, np.float32)
            d.bias.copy_(torch.from_numpy(np.array(bias, np.float32)))
    return model


def pretrained(variant: str, onnx_path: Path) -> U2NETP:
    """A variant with the shipped u2netp weights in its pretrained part, in eval mode."""
    from .u2netp import build

    return load_onnx_weights(build(variant), onnx_path).eval()

"""Export a trained variant to ONNX with symbolic N/H/W and check it against PyTorch.

    python -m training.export --checkpoint runs/u2netp_fpn/last.pt --out workers/engine/weights/u2netp_fpn.onnx

Beside it go the training config (`.yaml`, loadable by training.train) and the numbers the run
reached (`.json`: steps, minutes, validation before and after, md5).

The graph has one input (`input`, N x 3 x H x W, normalised like rembg feeds u2netp) and one
output (`mask`, N x 1 x H x W probabilities): the fused map, the only one the engine reads.
Verification runs onnxruntime and PyTorch on the same inputs (several sizes, one of them not a
multiple of 32, and a batch of two) and fails on any difference above `tol`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from .u2netp import U2NETP

OPSET = 17
CHECK_SHAPES = ((1, 320, 320), (2, 192, 256), (1, 301, 419))


def export(model: U2NETP, out: Path) -> Path:
    model = model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, 320, 320)
    tmp = out.with_name(out.name + ".tmp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(tmp),
            input_names=["input"],
            output_names=["mask"],
            dynamic_axes={"input": {0: "N", 2: "H", 3: "W"}, "mask": {0: "N", 2: "H", 3: "W"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    tmp.replace(out)
    return out


def verify(model: U2NETP, path: Path, tol: float = 2e-4, seed: int = 0, shapes=CHECK_SHAPES) -> float:
    """Largest |onnxruntime - PyTorch| over `shapes` (N, H, W); raises if any exceeds `tol`."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    if [shape[0], shape[2], shape[3]] != ["N", "H", "W"]:
        raise AssertionError(f"{path}: input dims {shape} are not symbolic N, H, W")
    rng = np.random.default_rng(seed)
    worst = 0.0
    model = model.eval()
    for n, h, w in shapes:
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        got = sess.run(None, {"input": x})[0]
        with torch.no_grad():
            want = model(torch.from_numpy(x)).numpy()
        if got.shape != want.shape:
            raise AssertionError(f"{path}: shape {got.shape} != {want.shape} for input {x.shape}")
        worst = max(worst, float(np.abs(got - want).max()))
    if worst > tol:
        raise AssertionError(f"{path}: onnxruntime differs from PyTorch by {worst:.2e} > {tol:.0e}")
    return worst


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def publish(checkpoint: Path, out: Path) -> dict:
    """Export + verify a checkpoint, and write its training config (.yaml) and numbers (.json) beside it."""
    import yaml

    from .train import load_checkpoint

    model, state = load_checkpoint(checkpoint)
    path = export(model, out)
    err = verify(model, path)
    info = {
        "model": out.name,
        "variant": state["variant"],
        "md5": md5(path),
        "max_abs_diff_vs_torch": float(f"{err:.2e}"),
        "steps": state["step"],
        "train_minutes": round(state["seconds"] / 60.0, 1),
        "validation_before": state["val_start"],
        "validation_after": state["val_end"],
    }
    out.with_suffix(".yaml").write_text(yaml.safe_dump(_plain(state["config"]), sort_keys=False))
    out.with_suffix(".json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def _plain(obj):
    """Tuples to lists, so the YAML is plain and loads back into the same config."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.export", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint written by training.train")
    ap.add_argument("--out", type=Path, required=True, help="the .onnx to write (.yaml and .json go beside it)")
    args = ap.parse_args(argv)
    print(json.dumps(publish(args.checkpoint, args.out), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

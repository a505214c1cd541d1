"""Fine-tune a U2NETP variant from the shipped weights: resumable, seeded, bounded in time.

    python -m training.train --config training/configs/u2netp_fpn.yaml [--out runs/u2netp_fpn]

The loss is U2NET's: binary cross-entropy on the fused map and on each of the six side maps, plus
(`iou_weight`) a soft-IoU term on the fused map, which weighs a 30-pixel object like a 30 000-pixel
one. `trainable` picks what moves: `new` (the added modules only), `head` (those plus the side and
fusion convolutions) or `all`. A run stops at `steps` or after `max_minutes`, whichever comes first,
writing `last.pt` every `checkpoint_every` steps; running the same command again resumes from it.
Validation (ECSSD 0761-0800 photos and composites) runs before the first step and at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import data
from .u2netp import U2NETP, build


@dataclass
class TrainConfig:
    variant: str = "u2netp_fpn"
    trainable: str = "head"  # new | head | all
    seed: int = 0
    threads: int = 2
    steps: int = 400
    max_minutes: float = 30.0
    batch: int = 4
    lr: float = 1e-3  # added modules
    lr_pretrained: float = 2e-5  # pretrained parameters that `trainable` unfreezes
    iou_weight: float = 1.0
    checkpoint_every: int = 20
    val_samples: int = 40
    data: data.DataConfig = field(default_factory=data.DataConfig)

    @classmethod
    def from_dict(cls, raw: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        raw = dict(raw)
        if "data" in raw:
            d = dict(raw["data"])
            for key in ("train_ids", "val_ids"):
                if key in d:
                    d[key] = tuple(d[key])
            raw["data"] = data.DataConfig(**d)
        return cls(**raw)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text()) or {})


def pretrained_onnx() -> Path:
    """The shipped u2netp.onnx (fetched and verified by `smallcut models fetch`)."""
    from smallcut.settings import Settings
    from workers.engine import models

    s = Settings()
    spec, _ = models.resolve("u2netp", s.model_dir)
    return s.model_dir / spec.filename


def make_model(cfg: TrainConfig) -> U2NETP:
    from .onnx_import import load_onnx_weights

    return load_onnx_weights(build(cfg.variant), pretrained_onnx())


def param_groups(model: U2NETP, cfg: TrainConfig) -> list[dict]:
    """Freeze what `trainable` keeps fixed; the rest in two groups (new modules, pretrained)."""
    new = [p for m in model.new_modules() for p in m.parameters()]
    if cfg.trainable == "new":
        old = []
    elif cfg.trainable == "head":
        old = [p for p in list(model.side.parameters()) + list(model.outconv.parameters())]
    elif cfg.trainable == "all":
        old = [p for m in model.pretrained_modules() for p in m.parameters()]
    else:
        raise ValueError(f"trainable must be new, head or all, not {cfg.trainable!r}")
    keep = {id(p) for p in new + old}
    for p in model.parameters():
        p.requires_grad_(id(p) in keep)
    groups = [{"params": new, "lr": cfg.lr}] if new else []
    if old:
        groups.append({"params": old, "lr": cfg.lr_pretrained})
    if not groups:
        raise ValueError(f"nothing to train: variant {cfg.variant} with trainable={cfg.trainable}")
    return groups


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    union = (p + target - p * target).sum(dim=(1, 2, 3))
    return (1 - (inter + 1) / (union + 1)).mean()


def loss_fn(outputs: list[torch.Tensor], target: torch.Tensor, iou_weight: float) -> torch.Tensor:
    bce = sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs)
    return bce + iou_weight * soft_iou_loss(outputs[0], target)


@torch.no_grad()
def validate(model: U2NETP, cfg: TrainConfig) -> dict:
    """Mean IoU (fused map > 0.5) and BCE on the validation samples, per kind."""
    was_training = model.training
    model.eval()
    per_kind: dict[str, list[tuple[float, float]]] = {}
    for i in range(cfg.val_samples):
        x, y, kind = data.sample(cfg.data, cfg.seed, i, split="val")
        logits = model.forward_logits(torch.from_numpy(x[None]))[0]
        t = torch.from_numpy(y[None, None])
        pred, gt = logits > 0, t > 0.5
        union = float((pred | gt).sum())
        iou = 1.0 if union == 0 else float((pred & gt).sum()) / union
        per_kind.setdefault(kind, []).append((iou, float(F.binary_cross_entropy_with_logits(logits, t))))
    model.train(was_training)
    out = {}
    for kind, vals in sorted(per_kind.items()):
        arr = np.asarray(vals)
        out[kind] = {"n": len(vals), "iou": round(float(arr[:, 0].mean()), 4), "bce": round(float(arr[:, 1].mean()), 4)}
    return out


def save_checkpoint(path: Path, model: U2NETP, opt: torch.optim.Optimizer, cfg: TrainConfig, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "config": asdict(cfg), **state}, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[U2NETP, dict]:
    """The model of a checkpoint (eval mode) and its saved state (config, step, history...)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = build(cfg.variant)
    model.load_state_dict(ckpt["model"])
    ckpt["variant"] = cfg.variant
    return model.eval(), ckpt


# a run may be resumed with these changed (a longer budget, another machine); nothing else
RESUMABLE_CHANGES = ("steps", "max_minutes", "checkpoint_every", "threads")


def _fixed(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}


def train(cfg: TrainConfig, out: Path, progress: bool = True) -> dict:
    """Run (or resume) training into `out`; returns the final state written with last.pt."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    model = make_model(cfg)
    opt = torch.optim.AdamW(param_groups(model, cfg), weight_decay=0.0)
    ckpt_path = out / "last.pt"
    state = {"step": 0, "seconds": 0.0, "history": [], "val_start": None, "val_end": None}
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if _fixed(ckpt["config"]) != _fixed(asdict(cfg)):
            raise SystemExit(f"{ckpt_path} was written with another config: use a fresh --out or the same config")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = {k: ckpt[k] for k in state}
        print(f"resuming {ckpt_path} at step {state['step']}", file=sys.stderr)
    if state["val_start"] is None:
        state["val_start"] = validate(model, cfg)
        print(f"validation before training: {json.dumps(state['val_start'])}", file=sys.stderr)
    model.train()
    budget = cfg.max_minutes * 60.0
    t_run = time.perf_counter()
    seconds_before = state["seconds"]
    with Progress(
        TextColumn(f"[bold]{cfg.variant}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("loss {task.fields[loss]}"), disable=not progress,
    ) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=state["step"], loss="-")
        while state["step"] < cfg.steps and state["seconds"] < budget:
            step = state["step"]
            x, y, _ = data.batch(cfg.data, cfg.seed, step * cfg.batch, cfg.batch)
            loss = loss_fn(model.forward_logits(torch.from_numpy(x)), torch.from_numpy(y), cfg.iou_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss = float(loss.detach())
            state["step"] = step + 1
            state["seconds"] = seconds_before + time.perf_counter() - t_run
            state["history"].append({"step": step + 1, "loss": round(loss, 5), "seconds": round(state["seconds"], 1)})
            bar.update(task, completed=state["step"], loss=f"{loss:.4f}")
            if state["step"] % cfg.checkpoint_every == 0:
                save_checkpoint(ckpt_path, model, opt, cfg, state)
                if not progress:  # a log line instead of the bar
                    recent = np.mean([h["loss"] for h in state["history"][-cfg.checkpoint_every :]])
                    print(f"step {state['step']} loss {recent:.4f} {state['seconds'] / 60:.1f} min", file=sys.stderr, flush=True)
    if state["val_end"] is None or state["val_end"].get("step") != state["step"]:
        state["val_end"] = {"step": state["step"], **validate(model, cfg)}
    save_checkpoint(ckpt_path, model, opt, cfg, state)
    (out / "metrics.json").write_text(json.dumps({k: state[k] for k in ("step", "seconds", "val_start", "val_end")}, indent=1))
    print(f"step {state['step']} after {state['seconds'] / 60:.1f} min; validation: {json.dumps(state['val_end'])}", file=sys.stderr)
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True, help="YAML file (see training/configs/)")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<config name>)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    train(cfg, args.out or Path("runs") / args.config.stem, progress=not args.no_progress)
    return 0


if __name__ == "__main__":
    sys.exit(main())

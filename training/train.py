"""Fine-tune a U2NETP variant from the shipped weights: resumable, seeded, bounded in time.

    python -m training.train --config training/configs/u2netp_ft.yaml [--out runs/u2netp_ft] [--resume]

The loss is U2NET's: binary cross-entropy on the fused map and on each of the six side maps, plus
(`iou_weight`) a soft-IoU term on the fused map, which weighs a 30-pixel object like a 30 000-pixel
one, plus (`distill_weight`) a distillation term: on `distill_batch` whole ECSSD training photos
per step (at the batch's side), the BCE of the student's fused logits against the frozen stock u2netp's probabilities,
so normal-size subjects keep what the published weights know. `trainable` picks what moves: `new`
(the added modules only), `head` (those plus the side and fusion convolutions) or `all`;
`freeze_stages` keeps the first N encoder stages fixed whatever `trainable` says.

A run stops at `steps` or after `max_minutes`, whichever comes first, writing `last.pt` every
`checkpoint_every` steps; `--resume` continues from it (without it an existing `last.pt` is
refused). `log.csv` gets a row per step (loss and its parts, seconds) and, every `val_every` steps
(and before the first and after the last), the validation IoU per kind: ECSSD 0761-0800 photos,
composites on them, and crops of catalog-tune frames 220-239 (`python -m training.plot` draws it).
Batches are drawn in a torch DataLoader (`loader_workers`, -1: as many as the cores left beside
`threads`, at most 2); the model runs on CUDA when torch sees a GPU, else on the CPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
    val_samples: int = 40  # split evenly over the validation kinds
    val_every: int = 50  # steps between validations (logged to log.csv)
    distill_weight: float = 0.0  # BCE against the stock u2netp on whole photos (0: off)
    distill_batch: int = 2  # photos per step for that term
    freeze_stages: int = 0  # encoder stages 1..N stay at the pretrained weights
    loader_workers: int = -1  # DataLoader workers; -1: the cores left beside `threads` (at most 2)
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
            for key in data.TUPLE_FIELDS:
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


def make_teacher() -> U2NETP:
    """The stock u2netp, frozen: the distillation term's labels on whole photos."""
    from .onnx_import import pretrained

    teacher = pretrained("u2netp", pretrained_onnx())
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


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
    if not 0 <= cfg.freeze_stages <= 6:
        raise ValueError(f"freeze_stages must be 0-6 (encoder stages), not {cfg.freeze_stages}")
    frozen = {id(p) for n in range(1, cfg.freeze_stages + 1) for p in getattr(model, f"stage{n}").parameters()}
    old = [p for p in old if id(p) not in frozen]
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


def loss_parts(outputs: list[torch.Tensor], target: torch.Tensor) -> dict[str, torch.Tensor]:
    """U2NET's BCE over the fused and six side maps, and the soft IoU of the fused map."""
    return {
        "bce": sum(F.binary_cross_entropy_with_logits(o, target) for o in outputs),
        "iou": soft_iou_loss(outputs[0], target),
    }


def distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """BCE of the student's fused logits against the teacher's probabilities."""
    return F.binary_cross_entropy_with_logits(student_logits, torch.sigmoid(teacher_logits))


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def val_kinds(cfg: TrainConfig) -> list[str]:
    return ["photo", "composite"] + (["catalog"] if cfg.data.catalog_share > 0 else [])


@torch.no_grad()
def validate(model: U2NETP, cfg: TrainConfig) -> dict:
    """Mean IoU (fused map > 0.5) and BCE per kind on the validation samples (ECSSD 0761-0800 photos
    and composites, catalog-tune frames 220-239), the same samples every time. With `multiscale`
    sample i is at scale i % 3 (frame, tile, zoom)."""
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    kinds = val_kinds(cfg)
    scales = [("frame", cfg.data.frame_size), ("tile", cfg.data.tile_size), ("zoom", cfg.data.zoom_sizes[0])]
    out = {}
    for kind in kinds:
        vals = []
        for i in range(max(1, cfg.val_samples // len(kinds))):
            scale = scales[i % 3] if cfg.data.multiscale else None
            x, y, _ = data.sample(cfg.data, cfg.seed, i, split="val", scale=scale, kind=kind)
            logits = model.forward_logits(torch.from_numpy(x[None]).to(dev))[0].cpu()
            t = torch.from_numpy(y[None, None])
            pred, gt = logits > 0, t > 0.5
            union = float((pred | gt).sum())
            iou = 1.0 if union == 0 else float((pred & gt).sum()) / union
            vals.append((iou, float(F.binary_cross_entropy_with_logits(logits, t))))
        arr = np.asarray(vals)
        out[kind] = {"n": len(vals), "iou": round(float(arr[:, 0].mean()), 4), "bce": round(float(arr[:, 1].mean()), 4)}
    model.train(was_training)
    return out


class Batches(torch.utils.data.Dataset):
    """Item k: training batch `first + k` (inputs, targets) and, with distillation, its photos."""

    def __init__(self, cfg: TrainConfig, first: int) -> None:
        self.cfg, self.first = cfg, first

    def __len__(self) -> int:
        return max(0, self.cfg.steps - self.first)

    def __getitem__(self, k: int):
        cfg, number = self.cfg, self.first + k
        x, y, _ = data.batch(cfg.data, cfg.seed, number, cfg.batch)
        photos = data.distill_photos(cfg.data, cfg.seed, number, cfg.distill_batch) if cfg.distill_weight > 0 else np.zeros(0, np.float32)
        return torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(photos)


def _worker_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def loader_workers(cfg: TrainConfig) -> int:
    if cfg.loader_workers >= 0:
        return cfg.loader_workers
    return max(0, min(2, (os.cpu_count() or 1) - cfg.threads))


def save_checkpoint(path: Path, model: U2NETP, opt: torch.optim.Optimizer, cfg: TrainConfig, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "config": asdict(cfg), **state}, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> tuple[U2NETP, dict]:
    """The model of a checkpoint (eval mode, CPU) and its saved state (config, step, history...)."""
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    cfg = TrainConfig.from_dict(ckpt["config"])
    model = build(cfg.variant)
    model.load_state_dict(ckpt["model"])
    ckpt["variant"] = cfg.variant
    return model.eval(), ckpt


# a run may be resumed with these changed (a longer budget, another machine); nothing else
RESUMABLE_CHANGES = ("steps", "max_minutes", "checkpoint_every", "threads", "loader_workers", "val_every")
LOG_FIELDS = ("step", "loss", "bce", "iou", "distill", "seconds", *(f"val_{k}_iou" for k in data.KINDS))


def _fixed(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in RESUMABLE_CHANGES}


class Log:
    """runs/<name>/log.csv: one row per step; validation rows carry the IoU per kind. On resume the
    rows after the checkpoint's step (written before an interruption) are dropped."""

    def __init__(self, path: Path, step: int) -> None:
        self.path = path
        rows = []
        if step > 0 and path.exists():
            with path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= step]
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, LOG_FIELDS)
            w.writeheader()
            w.writerows(rows)

    def write(self, step: int, seconds: float, parts: dict | None = None, val: dict | None = None) -> None:
        row = {"step": step, "seconds": round(seconds, 1)}
        row.update({k: round(v, 5) for k, v in (parts or {}).items()})
        row.update({f"val_{k}_iou": v["iou"] for k, v in (val or {}).items()})
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, LOG_FIELDS).writerow(row)


def train(cfg: TrainConfig, out: Path, progress: bool = True, resume: bool = False) -> dict:
    """Run training into `out` (continue from its last.pt with `resume`); returns the final state."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    dev = device()
    model = make_model(cfg).to(dev)
    opt = torch.optim.AdamW(param_groups(model, cfg), weight_decay=0.0)
    teacher = make_teacher().to(dev) if cfg.distill_weight > 0 else None
    ckpt_path = out / "last.pt"
    state = {"step": 0, "seconds": 0.0, "history": [], "val_start": None, "val_end": None}
    if ckpt_path.exists() and not resume:
        raise SystemExit(f"{ckpt_path} exists: add --resume to continue that run, or use another --out (or delete it) to start afresh")
    if resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=dev, weights_only=False)
        if _fixed(ckpt["config"]) != _fixed(asdict(cfg)):
            raise SystemExit(f"{ckpt_path} was written with another config: use a fresh --out or the same config")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        state = {k: ckpt[k] for k in state}
        print(f"resuming {ckpt_path} at step {state['step']}", file=sys.stderr)
    log = Log(out / "log.csv", state["step"])
    if state["val_start"] is None:
        state["val_start"] = validate(model, cfg)
        log.write(0, 0.0, val=state["val_start"])
        print(f"validation before training: {json.dumps(state['val_start'])}", file=sys.stderr)
    model.train()
    budget = cfg.max_minutes * 60.0
    t_run = time.perf_counter()
    seconds_before = state["seconds"]
    workers = loader_workers(cfg)
    batches = torch.utils.data.DataLoader(Batches(cfg, state["step"]), batch_size=None, num_workers=workers,
                                          prefetch_factor=2 if workers else None, worker_init_fn=_worker_init)
    with Progress(
        TextColumn(f"[bold]{cfg.variant}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("loss {task.fields[loss]}"), disable=not progress,
    ) as bar:
        task = bar.add_task("train", total=cfg.steps, completed=state["step"], loss="-")
        for x, y, photos in batches:
            if state["step"] >= cfg.steps or state["seconds"] >= budget:
                break
            step = state["step"]
            parts = loss_parts(model.forward_logits(x.to(dev)), y.to(dev))
            loss = parts["bce"] + cfg.iou_weight * parts["iou"]
            if teacher is not None:
                photos = photos.to(dev)
                with torch.no_grad():
                    labels = teacher.forward_logits(photos)[0]
                parts["distill"] = distill_loss(model.forward_logits(photos)[0], labels)
                loss = loss + cfg.distill_weight * parts["distill"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            parts = {"loss": float(loss.detach()), **{k: float(v.detach()) for k, v in parts.items()}}
            state["step"] = step + 1
            state["seconds"] = seconds_before + time.perf_counter() - t_run
            state["history"].append({"step": step + 1, "loss": round(parts["loss"], 5), "seconds": round(state["seconds"], 1)})
            val = validate(model, cfg) if state["step"] % cfg.val_every == 0 else None
            log.write(state["step"], state["seconds"], parts, val)
            if val is not None:
                print(f"step {state['step']} validation: {json.dumps(val)}", file=sys.stderr, flush=True)
            bar.update(task, completed=state["step"], loss=f"{parts['loss']:.4f}")
            if state["step"] % cfg.checkpoint_every == 0:
                save_checkpoint(ckpt_path, model, opt, cfg, state)
                if not progress:  # a log line instead of the bar
                    recent = np.mean([h["loss"] for h in state["history"][-cfg.checkpoint_every :]])
                    print(f"step {state['step']} loss {recent:.4f} {state['seconds'] / 60:.1f} min", file=sys.stderr, flush=True)
    if state["val_end"] is None or state["val_end"].get("step") != state["step"]:
        val = validate(model, cfg)
        state["val_end"] = {"step": state["step"], **val}
        if state["step"] % cfg.val_every:
            log.write(state["step"], state["seconds"], val=val)
    save_checkpoint(ckpt_path, model, opt, cfg, state)
    (out / "metrics.json").write_text(json.dumps({k: state[k] for k in ("step", "seconds", "val_start", "val_end")}, indent=1))
    print(f"step {state['step']} after {state['seconds'] / 60:.1f} min; validation: {json.dumps(state['val_end'])}", file=sys.stderr)
    return state


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True, help="YAML file (see training/configs/)")
    ap.add_argument("--out", type=Path, default=None, help="run folder (default: runs/<config name>)")
    ap.add_argument("--resume", action="store_true", help="continue from the run folder's last.pt")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    train(cfg, args.out or Path("runs") / args.config.stem, progress=not args.no_progress, resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())

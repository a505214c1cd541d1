"""`smallcut cutout PATH... --out DIR`: the engine on local files, one PNG per input.

Unreadable inputs are reported one line each with the reason; the rest go on; exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from smallcut.settings import POST_STEPS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".jfif"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--out", "-o", type=Path, required=True, help="output folder (DIR/<stem>.png)")
    p.add_argument("--mask-only", action="store_true", help="write the 8-bit alpha mask instead of RGBA")
    p.add_argument("--no-roi", action="store_true", help="whole-frame pass only (rembg's plan)")
    p.add_argument("--no-postprocess", action="store_true", help="skip edge refinement, morphology, holes, colour bleed")
    p.add_argument("--post-steps", default=None, metavar="LIST",
                   help=f"post-processing steps to run, comma-separated: {','.join(POST_STEPS)} (default: SMALLCUT_POST_STEPS, all)")
    p.add_argument("--bg-color", default=None, help="flatten onto a colour (#rrggbb or r,g,b[,a])")
    p.add_argument("--detect-always", action="store_true",
                   help="tiled detection on every frame: finds small objects beside a large one (slower)")
    p.add_argument("--model", default=None, help="model name from the registry (default: SMALLCUT_MODEL)")
    p.add_argument("--model-path", type=Path, default=None, help="explicit .onnx file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def collect_inputs(paths: list[Path]) -> list[Path]:
    """Files as given; folders expanded recursively to image files, sorted for a stable order."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from smallcut.settings import get_settings

    from .codec import DecodeError
    from .engine import CutoutOptions, Engine, parse_color

    settings = get_settings()
    updates = {}
    if args.detect_always:
        updates["detection"] = "always"
    if args.model:
        updates["model"] = args.model
    if args.model_path:
        updates["model_path"] = args.model_path
    if args.post_steps is not None:
        try:
            updates["post_steps"] = type(settings).model_validate({"post_steps": args.post_steps}).post_steps
        except ValueError:
            print(f"error: --post-steps takes a comma-separated subset of {', '.join(POST_STEPS)}", file=sys.stderr)
            return 2
    if updates:
        settings = settings.model_copy(update=updates)
    try:
        bg = parse_color(args.bg_color) if args.bg_color else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = CutoutOptions(roi=not args.no_roi, postprocess=not args.no_postprocess, mask_only=args.mask_only, bg_color=bg)
    inputs = collect_inputs(args.paths)
    if not inputs:
        print("error: no input images found", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    engine = Engine.from_settings(settings)
    failed = 0
    seen: dict[str, Path] = {}
    with Progress(
        TextColumn("[bold]cutout"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), TextColumn("{task.fields[name]}"),
        disable=args.no_progress or not sys.stderr.isatty(), transient=False,
    ) as progress:
        task = progress.add_task("cutout", total=len(inputs), name="")
        for path in inputs:
            progress.update(task, name=path.name)
            dest = args.out / f"{path.stem}.png"
            if dest.name in seen and seen[dest.name] != path:
                print(f"FAILED {path}: output name {dest.name} already used by {seen[dest.name]}", file=sys.stderr)
                failed += 1
                progress.advance(task)
                continue
            seen[dest.name] = path
            try:
                data = path.read_bytes()
                result = engine.cutout(data, options)
                write_atomic(dest, result.png)
            except (DecodeError, OSError) as exc:
                failed += 1
                print(f"FAILED {path}: {exc}", file=sys.stderr)
            progress.advance(task)
    done = len(inputs) - failed
    print(f"{done} written to {args.out}, {failed} failed", file=sys.stderr)
    return 1 if failed else 0

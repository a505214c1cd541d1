"""`smallcut cutout PATH... --out DIR`: the engine on local files, one PNG per input (or one output
per profile and per object).

A file goes to DIR/<stem>.png; a folder's images keep their path below the folder
(photos/shoes/a.jpg -> DIR/shoes/a.png), since catalogs reuse file names across folders. A profile
other than `default` writes DIR/<profile>/<same path>.<its extension>; `--split-objects` adds -<n>.
Unreadable inputs are reported one line each with the reason; the rest go on; exit 1 if any failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from smallcut.options import COLOUR_HELP, IMAGE_SUFFIXES, SHADOW_MODES
from smallcut.profiles import PRESET_LIST
from smallcut.settings import POST_STEPS


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", type=Path, help="image files or folders (searched recursively)")
    p.add_argument("--out", "-o", type=Path, required=True,
                   help="output folder: DIR/<stem>.png for a file, DIR/<path below the folder>.png for a folder")
    p.add_argument("--mask-only", action="store_true", help="write the 8-bit alpha mask instead of RGBA")
    p.add_argument("--no-roi", action="store_true", help="whole-frame pass only (rembg's plan)")
    p.add_argument("--no-postprocess", action="store_true", help="skip edge refinement, morphology, holes, colour bleed")
    p.add_argument("--post-steps", default=None, metavar="LIST",
                   help=f"post-processing steps to run, comma-separated: {','.join(POST_STEPS)} (default: SMALLCUT_POST_STEPS, all)")
    p.add_argument("--bg-color", default=None, help=f"flatten onto a colour: {COLOUR_HELP}")
    p.add_argument("--shadow", choices=SHADOW_MODES, default=None,
                   help="a cast shadow under the object: remove it with the background or keep it "
                        "(default: SMALLCUT_SHADOW, remove)")
    p.add_argument("--detect-always", action="store_true",
                   help="tiled detection on every frame: finds small objects beside a large one (slower)")
    p.add_argument("--model", default=None, help="model name from the registry (default: SMALLCUT_MODEL)")
    p.add_argument("--model-path", type=Path, default=None, help="explicit .onnx file")
    p.add_argument("--profile", action="append", default=None, metavar="PROFILE",
                   help=f"an output profile, repeatable: a preset ({PRESET_LIST}) or fields, e.g. 'name=thumb,format=jpg,scale=80%%,size=1000x1000' "
                        "(docs/profiles.md; default: SMALLCUT_PROFILES, else default)")
    p.add_argument("--split-objects", action="store_true",
                   help="one output per object in the frame (a pair of earrings: 2), each placed by the profile")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def collect_inputs(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(input file, output path relative to --out): a file as <stem>.png; a folder expanded
    recursively to its image files, each keeping its path below the folder; sorted, stable."""
    out: list[tuple[Path, Path]] = []
    for p in paths:
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            out.extend((f, f.relative_to(p).with_suffix(".png")) for f in files)
        else:
            out.append((p, Path(f"{p.stem}.png")))
    return out


def check_out_dir(out: Path) -> str | None:
    """Why --out cannot be the output folder, or None when it can (made if missing)."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder: give a folder for the PNGs"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot make the output folder {out}: {exc.strerror or exc}"
    return None


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def progress_bar(enabled: bool):
    """A bar on stderr (stdout stays free for pipes): live on a terminal, its final state elsewhere."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]cutout"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    TextColumn("{task.fields[name]}"), console=Console(stderr=True), disable=not enabled,
                    transient=False)


def run(args: argparse.Namespace) -> int:
    from smallcut import profiles as profile_rules
    from smallcut.options import job_options
    from smallcut.settings import get_settings
    from workers import outputs

    from .codec import DecodeError
    from .engine import CutoutOptions, Engine

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
        # the options dict a queued job carries over the same defaults a worker applies (pipeline.py)
        chosen = job_options(roi=False if args.no_roi else None, postprocess=False if args.no_postprocess else None,
                             mask_only=True if args.mask_only else None, bg_color=args.bg_color, shadow=args.shadow)
        defaults = {"roi": settings.roi, "postprocess": settings.postprocess, "shadow": settings.shadow}
        options = CutoutOptions.from_dict({**defaults, **chosen})
        profiles = profile_rules.parse_many(args.profile or settings.profiles or [profile_rules.DEFAULT])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inputs = collect_inputs(args.paths)
    if not inputs:
        print("error: no input images found", file=sys.stderr)
        return 2
    problem = check_out_dir(args.out)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    engine = Engine.from_settings(settings)
    plan = outputs.Plan(profiles, args.split_objects, options)
    failed = 0
    seen: dict[Path, Path] = {}
    with progress_bar(not args.no_progress and len(inputs) > 1) as progress:
        task = progress.add_task("cutout", total=len(inputs), name="")

        def fail(path: Path, reason: str) -> None:
            nonlocal failed
            failed += 1
            progress.console.print(f"FAILED {path}: {reason}", markup=False, highlight=False, soft_wrap=True)

        for path, rel in inputs:
            progress.update(task, name=str(rel.with_suffix(path.suffix)))
            dest = args.out / rel
            if dest in seen and seen[dest] != path:
                fail(path, f"output {rel} already used by {seen[dest]}")
                progress.advance(task)
                continue
            seen[dest] = path
            try:
                data = path.read_bytes()
                _, made_all = outputs.cutout(engine, data, options, plan)
                for made in made_all:
                    target = args.out / profile_rules.output_key(rel.as_posix(), "", "", made.profile, made.obj)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(target, made.data)
            except (DecodeError, OSError) as exc:
                fail(path, str(exc))
            progress.advance(task)
    done = len(inputs) - failed
    print(f"{done} written to {args.out}, {failed} failed", file=sys.stderr)
    return 1 if failed else 0

"""POST /v1/cutout: one image in, one PNG out, through the queue like every other object.

The upload goes to a scratch prefix (SMALLCUT_API_SCRATCH, default s3://<first allowed bucket>/_api),
one task is queued on the API's queue, and the request waits for the object's status. A timeout
answers 504 with the status URL: the work is not lost, the caller can poll and fetch the output later.
Scratch objects are left for a bucket lifecycle rule to expire (they are the audit trail meanwhile).
"""

import asyncio
import secrets
import time
from pathlib import PurePosixPath

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from smallcut import keys as keyrules
from smallcut import profiles as profile_rules
from smallcut.job import JobOptions, JobSpec
from smallcut.status import State

from .api_common import AUTH, ERRORS, SHADOW_MODES, ApiContext, Ctx, check_color, check_shadow, refuse_unknown

POLL_S = 0.1
CONTENT_TYPES = {"jpg": "image/jpeg", **{ext: profile_rules.CONTENT_TYPES[fmt] for fmt, ext in profile_rules.EXTENSIONS.items()}}
# remove.bg's output fields (and smallcut's few more): any of them makes the answer a profile's output
PROFILE_FIELDS = ("crop", "crop_margin", "scale", "position", "size", "format", "channels", "quality", "aspect",
                  "min_side", "max_side")


def api_batch_id() -> str:
    """Single cut-outs are grouped per UTC day, like event-driven work."""
    return time.strftime("api-%Y%m%d", time.gmtime())


# the rule lives in smallcut.keys so that the event intake applies the same one (loop detection)
ApiConfigError = keyrules.ScratchConfigError
scratch_location = keyrules.api_scratch_location


def check_settings(settings) -> None:
    """What `smallcut api` checks before it listens: ApiConfigError with the reason."""
    scratch_location(settings)


def scratch_key(prefix: str, filename: str | None) -> str:
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix not in keyrules.IMAGE_SUFFIXES:
        suffix = ".img"  # the worker sniffs the format from the bytes
    name = time.strftime("%Y%m%d", time.gmtime()) + "/" + secrets.token_hex(8) + suffix
    return f"{prefix}/in/{name}" if prefix else f"in/{name}"


class CutoutOptions(BaseModel):
    """The switches of one cut-out, as the job's `options` dict carries them to the worker."""

    roi: bool = True
    postprocess: bool = True
    mask_only: bool = False
    bg_color: str | None = None
    shadow: str = "remove"  # remove: cut shadows away with the background; keep: keep the object's cast shadow

    def as_job(self) -> dict:
        return self.model_dump(exclude_none=True)


async def run_cutout(ctx: ApiContext, data: bytes, filename: str | None, options: dict) -> Response:
    """Upload to scratch, queue one task, wait for its status: the PNG, or why there is none."""
    from smallcut.celery_config import TASK_KEY

    settings, status, s3 = ctx.settings, ctx.status, ctx.s3
    if not data:
        raise HTTPException(422, "file is empty")
    try:
        bucket, prefix = scratch_location(settings)
    except ApiConfigError as exc:  # `smallcut api` refuses to start so; an app built elsewhere answers why
        raise HTTPException(503, f"this API is not configured for cut-outs: {exc}") from None
    key = scratch_key(prefix, filename)
    out_prefix = f"{prefix}/out" if prefix else "out"
    in_prefix = f"{prefix}/in" if prefix else "in"  # replaced by out_prefix: <prefix>/out/<day>/<id>.png
    oid = keyrules.object_id(bucket, key)
    batch = api_batch_id()
    # the day's batch is shared by every caller: its template has no options, each object keeps its own
    spec = JobSpec(out_bucket=bucket, out_prefix=out_prefix, in_prefix=in_prefix, options=options, force=True,
                   queue=settings.queue)
    shared = spec.model_copy(update={"options": JobOptions()})

    def submit() -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        status.create_batch(batch, shared.to_template())
        status.mark_queued(batch, [(bucket, key)], job=spec.to_template())
        ctx.celery_app.send_task(TASK_KEY, args=[spec.job(batch, bucket, [key]).to_message()], queue=settings.queue)

    await run_in_threadpool(submit)
    status_url = f"/v1/objects?key=s3://{oid}"
    deadline = time.monotonic() + settings.api_cutout_timeout
    obj: dict = {}
    while time.monotonic() < deadline:
        obj = await run_in_threadpool(status.get_object, oid) or {}
        if obj.get("state") in (State.DONE.value, State.FAILED.value, State.SKIPPED.value):
            break
        await asyncio.sleep(POLL_S)
    else:
        return JSONResponse({"error": f"not finished within {settings.api_cutout_timeout:g}s",
                             "state": obj.get("state"), "status_url": status_url}, status_code=504,
                            headers={"Location": status_url})
    if obj["state"] == State.FAILED.value:
        return JSONResponse({"error": obj.get("error") or "failed", "status_url": status_url}, status_code=422)
    out = keyrules.parse_s3_url(obj["output"])
    body = await run_in_threadpool(lambda: s3.get_object(Bucket=out.bucket, Key=out.key)["Body"].read())
    ext = out.key.rsplit(".", 1)[-1]
    return Response(body, media_type=CONTENT_TYPES.get(ext, "image/png"),
                    headers={"X-Smallcut-Object": f"s3://{oid}", "X-Smallcut-Output": obj["output"]})


router = APIRouter(tags=["cutout"], dependencies=AUTH)
CUTOUT_FORM = ("file", "mask_only", "bg_color", "roi", "postprocess", "shadow", "profile", *PROFILE_FIELDS)


def profile_from_form(spec: str | None, fields: dict, bg_color: str | None) -> profile_rules.Profile | None:
    """The profile a request asks for: `profile` (a preset or a spec) with remove.bg's fields over it,
    `bg_color` included; None when it names none (then the workers' SMALLCUT_PROFILES)."""
    fields = {k: v for k, v in fields.items() if v not in (None, "")}
    spec = (spec or "").strip()
    if not spec and not fields:
        return None
    base = profile_rules.parse(spec).model_dump(mode="json") if spec else {"name": "custom"}
    if bg_color:
        fields["bg_color"] = bg_color
    if not fields:
        return profile_rules.parse(spec)
    base["name"] = base["name"] if base["name"] != profile_rules.DEFAULT else "custom"
    return profile_rules.make({**base, **fields}, label=spec or "form fields")


@router.post("/v1/cutout", response_class=Response,
             responses={**ERRORS, 200: {"content": {"image/png": {}}, "description": "the cut-out PNG"},
                        504: {"description": "not finished in time; `status_url` tells when it is"}})
async def cutout(request: Request, ctx: Ctx, file: UploadFile = File(..., description="the image"),
                 mask_only: bool = Form(False), bg_color: str | None = Form(None, max_length=32),
                 roi: bool = Form(True), postprocess: bool = Form(True),
                 shadow: str = Form("remove", max_length=16, json_schema_extra={"enum": list(SHADOW_MODES)},
                                    description="remove: cut cast shadows away; keep: keep them with the object"),
                 profile: str | None = Form(None, max_length=512, description=f"an output profile: a preset "
                                            f"({profile_rules.PRESET_LIST}) or a spec"),
                 crop: bool | None = Form(None, description="cut to the product(s) (remove.bg)"),
                 crop_margin: str | None = Form(None, max_length=16, description="30px or 10% (remove.bg)"),
                 scale: str | None = Form(None, max_length=16, description="share of the canvas, 85% (remove.bg)"),
                 position: str | None = Form(None, max_length=16, description="center or 'X% Y%' (remove.bg)"),
                 size: str | None = Form(None, max_length=16, description="canvas WxH or auto"),
                 format: str | None = Form(None, max_length=8, description="png, jpg, webp or zip (remove.bg)"),
                 channels: str | None = Form(None, max_length=8, description="rgba or alpha (remove.bg)"),
                 quality: int | None = Form(None, description="JPEG / lossy WebP quality 1-100"),
                 aspect: str | None = Form(None, max_length=16, description="W:H of an auto canvas"),
                 min_side: int | None = Form(None, description="auto canvas at least this long"),
                 max_side: int | None = Form(None, description="auto canvas at most this long")):
    """Cut out one image: multipart `file` -> image/png (rembg's names: POST /api/remove).

    Output profiles (docs/profiles.md): `profile` (a preset such as amazon-main, or a spec) and/or
    remove.bg's fields `crop`, `crop_margin`, `scale`, `position`, `size`, `format`, `channels` (with
    `quality`, `aspect`, `min_side`, `max_side`); the answer is then that profile's file (its type)."""
    form = await request.form()
    refuse_unknown("POST /v1/cutout", request.query_params.keys(), form.keys(), (), CUTOUT_FORM,
                   hint="rembg's parameter names (om, bgc, ppm, ...) are read by POST /api/remove")
    try:
        color = check_color(bg_color or None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        shadow = check_shadow(shadow)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        fields = dict(crop=crop, crop_margin=crop_margin, scale=scale, position=position, size=size, format=format,
                      channels=channels, quality=quality, aspect=aspect, min_side=min_side, max_side=max_side)
        profile = profile_from_form(profile, fields, color)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    if profile is not None:  # the profile's background replaces the engine's flattening
        color = None
    options = CutoutOptions(roi=roi, postprocess=postprocess, mask_only=mask_only, bg_color=color, shadow=shadow)
    job_options = {**options.as_job(), **profile_rules.job_fields([profile] if profile else None)}
    return await run_cutout(ctx, await file.read(), file.filename, job_options)

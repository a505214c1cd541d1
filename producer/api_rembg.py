"""rembg's HTTP routes on smallcut's queue: `POST /api/remove` (multipart `file`) and `GET /api/remove?url=`.

Same paths, parameter names, places and defaults as rembg's own server (`rembg s`): on POST the
switches are form fields and `bgc`/`extras` are query parameters, on GET all are query parameters.
They map onto smallcut's options: `om` -> mask only, `ppm` -> post-processing, `bgc` -> background
colour (r,g,b[,a]). What smallcut cannot honour answers 400 with the reason instead of a picture made
differently: another model than the one the workers run, alpha matting (`a=true`), `extras`, and any
parameter rembg's server does not read either. `af`/`ab`/`ae` are range-checked and, as in rembg,
only matter with `a=true`.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from . import api_fetch
from .api_common import AUTH, ERRORS, Ctx, check_color, refuse_unknown
from .api_cutout import CutoutOptions, run_cutout

REMBG_DEFAULT_MODEL = "u2net"
POST_FORM = ("file", "model", "a", "af", "ab", "ae", "om", "ppm")
POST_QUERY = ("bgc", "extras")
GET_QUERY = ("url", "model", "a", "af", "ab", "ae", "om", "ppm", "bgc", "extras")
HINT = "these are the parameters of rembg's server"
PNG = {200: {"content": {"image/png": {}}, "description": "the cut-out (or mask) as PNG"}}

router = APIRouter(tags=["rembg"], dependencies=AUTH)


def rembg_options(served_model: str, *, model: str, a: bool, om: bool, ppm: bool, bgc: str | None,
                  extras: str | None) -> dict:
    """rembg's switches as the job's options; HTTPException 400 for what smallcut does not do."""
    if model not in (REMBG_DEFAULT_MODEL, served_model):
        raise HTTPException(400, f"model {model!r} is not served here: the workers run smallcut's U2NET-based "
                                 f"model ({served_model}); send model={REMBG_DEFAULT_MODEL} (rembg's default) "
                                 "or leave it out")
    if a:
        raise HTTPException(400, "alpha matting (a=true) is not supported: smallcut refines edges in its own "
                                 "post-processing (ppm=true)")
    if extras not in (None, ""):
        try:
            extra = json.loads(extras)
        except ValueError:
            raise HTTPException(400, f"extras is not JSON: {extras[:80]!r}") from None
        if extra not in ({}, None):
            raise HTTPException(400, "extras is not supported (rembg hands it to its model sessions; smallcut's "
                                     f"workers have their own settings): {sorted(extra) if isinstance(extra, dict) else extra!r}")
    color = None
    if bgc:
        try:
            color = check_color(bgc)
        except ValueError as exc:
            raise HTTPException(400, f"bgc: {exc}") from None
    return CutoutOptions(roi=True, postprocess=ppm, mask_only=om, bg_color=color).as_job()


def served_by(response: Response, model: str) -> Response:
    """`model=u2net` (rembg's default) is answered by the model the workers run: the header names it."""
    response.headers["X-Smallcut-Model"] = model
    return response


@router.post("/api/remove", response_class=Response, summary="Remove from Stream",
             responses={**ERRORS, **PNG, 504: {"description": "not finished in time"}})
async def remove_posted(
    request: Request, ctx: Ctx,
    file: UploadFile = File(..., description="Image file (byte stream) that has to be processed."),
    model: str = Form(REMBG_DEFAULT_MODEL, max_length=64, description="Model to use when processing image"),
    a: bool = Form(False, description="Enable Alpha Matting (not supported: 400)"),
    af: int = Form(240, ge=0, le=255, description="Alpha Matting (Foreground Threshold)"),
    ab: int = Form(10, ge=0, le=255, description="Alpha Matting (Background Threshold)"),
    ae: int = Form(10, ge=0, description="Alpha Matting (Erode Structure Size)"),
    om: bool = Form(False, description="Only Mask"),
    ppm: bool = Form(False, description="Post Process Mask (smallcut's post-processing)"),
    bgc: str | None = Query(None, max_length=64, description="Background Color: r,g,b[,a]"),
    extras: str | None = Query(None, max_length=4096, description="Extra parameters as JSON (not supported: 400)"),
):
    """rembg's `POST /api/remove`: the image as multipart `file`, switches as form fields."""
    form = await request.form()
    refuse_unknown("POST /api/remove", request.query_params.keys(), form.keys(), POST_QUERY, POST_FORM, HINT)
    options = rembg_options(ctx.settings.model, model=model, a=a, om=om, ppm=ppm, bgc=bgc, extras=extras)
    return served_by(await run_cutout(ctx, await file.read(), file.filename, options), ctx.settings.model)


@router.get("/api/remove", response_class=Response, summary="Remove from URL",
            responses={**ERRORS, **PNG, 403: {"description": "fetching by URL is off, or the host is not allowed"},
                       504: {"description": "the fetch or the cut-out did not finish in time"}})
async def remove_by_url(
    request: Request, ctx: Ctx,
    url: str = Query(..., max_length=2048, description="URL of the image that has to be processed."),
    model: str = Query(REMBG_DEFAULT_MODEL, max_length=64, description="Model to use when processing image"),
    a: bool = Query(False, description="Enable Alpha Matting (not supported: 400)"),
    af: int = Query(240, ge=0, le=255, description="Alpha Matting (Foreground Threshold)"),
    ab: int = Query(10, ge=0, le=255, description="Alpha Matting (Background Threshold)"),
    ae: int = Query(10, ge=0, description="Alpha Matting (Erode Structure Size)"),
    om: bool = Query(False, description="Only Mask"),
    ppm: bool = Query(False, description="Post Process Mask (smallcut's post-processing)"),
    bgc: str | None = Query(None, max_length=64, description="Background Color: r,g,b[,a]"),
    extras: str | None = Query(None, max_length=4096, description="Extra parameters as JSON (not supported: 400)"),
):
    """rembg's `GET /api/remove?url=`: off unless SMALLCUT_API_FETCH_HOSTS lists the image's host."""
    refuse_unknown("GET /api/remove", request.query_params.keys(), (), GET_QUERY, (), HINT)
    options = rembg_options(ctx.settings.model, model=model, a=a, om=om, ppm=ppm, bgc=bgc, extras=extras)
    s = ctx.settings
    try:
        data, name = await run_in_threadpool(api_fetch.fetch, url, s.api_fetch_hosts, s.api_fetch_max_bytes,
                                             s.api_fetch_timeout)
    except api_fetch.FetchRefused as exc:
        raise HTTPException(exc.status_code, exc.reason) from None
    return served_by(await run_cutout(ctx, data, name, options), ctx.settings.model)

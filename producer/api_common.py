"""What every API router shares: the app's clients, the token check, parameter checks, error shapes.

No router imports `producer.api` (it only assembles the app) and the imports between routers run
one way (api_rembg uses api_cutout's runner), so there is no cycle. The clients (settings,
status store, S3, Celery app) live on `app.state.ctx` and reach a route through the `context`
dependency, so a route is a plain module-level function and tests can hand the app their own clients.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Iterable

from fastapi import Depends, HTTPException, Path, Request
from pydantic import BaseModel

from smallcut import keys as keyrules
from smallcut.options import SHADOW_MODES, parse_color

TOKEN_COOKIE = "smallcut_token"
BATCH_ID = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"


class Problem(BaseModel):
    error: str


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 404, 413, 422)}


@dataclass
class ApiContext:
    """The clients one API process talks to, made once in `make_app`."""

    settings: Any
    status: Any  # smallcut.status.StatusStore
    s3: Any
    celery_app: Any
    token: str | None = None
    thumbnails: Any = None  # the review page's thumbnail cache (api_review.Thumbnails)
    metrics: Any = None  # the registry /metrics reads from Redis at scrape time (api_metrics.live_registry)


# ---------------------------------------------------------------------- dependencies
def context(request: Request) -> ApiContext:
    return request.app.state.ctx


def token_ok(request: Request, expected: str | None) -> bool:
    """Bearer header or the review page's cookie, compared in constant time."""
    if not expected:
        return True
    header = request.headers.get("authorization") or ""
    value = header[7:].strip() if header.lower().startswith("bearer ") else ""
    value = value or request.cookies.get(TOKEN_COOKIE, "")
    return bool(value) and hmac.compare_digest(value.encode(), expected.encode())


def require_token(request: Request) -> None:
    if not token_ok(request, context(request).token):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


Ctx = Annotated[ApiContext, Depends(context)]
AUTH = [Depends(require_token)]


def batch_summary(ctx: Ctx, batch_id: str = Path(..., pattern=BATCH_ID)):
    """The batch of the path's `{batch_id}` (a smallcut.status.BatchSummary), or 404."""
    summary = ctx.status.get_batch(batch_id)
    if summary is None:
        raise HTTPException(404, f"no batch {batch_id}")
    return summary


Batch = Annotated[Any, Depends(batch_summary)]


# ---------------------------------------------------------------------- parameter checks
def check_color(value):
    """'#rrggbb[aa]', 'r,g,b[,a]' or [r, g, b(, a)]: the engine's colour formats, checked without it."""
    if value is None:
        return None
    if isinstance(value, str):
        parse_color(value)  # a name, #rrggbb[aa] or r,g,b[,a]; ValueError says which forms work
        return value
    if isinstance(value, (list, tuple)) and len(value) in (3, 4) and all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value):
        return list(value)
    raise ValueError("bad colour: use #rrggbb, #rrggbbaa, 'r,g,b[,a]' or a list of 3-4 integers 0-255")


def check_shadow(value: str | None) -> str:
    if value is None:
        return "remove"
    if value not in SHADOW_MODES:
        raise ValueError(f"bad shadow {value!r}: use one of {', '.join(SHADOW_MODES)}")
    return value


def refuse_unknown(route: str, query: Iterable[str], form: Iterable[str], query_names: Iterable[str],
                   form_names: Iterable[str], hint: str = "") -> None:
    """400 for a parameter the route does not read: a silently ignored option changes the result."""
    query_names, form_names = set(query_names), set(form_names)
    extra = [f"{n} (query string)" for n in dict.fromkeys(query) if n not in query_names]
    extra += [f"{n} (form field)" for n in dict.fromkeys(form) if n not in form_names]
    if extra:
        takes = []
        if form_names:
            takes.append("form fields " + ", ".join(sorted(form_names)))
        if query_names:
            takes.append("query parameters " + ", ".join(sorted(query_names)))
        raise HTTPException(400, f"{route} does not read {', '.join(extra)}; it takes {' and '.join(takes) or 'nothing'}"
                           + (f". {hint}" if hint else ""))


def parse_object_url(url: str, allowed) -> keyrules.S3Url:
    """s3://bucket/key checked by the producer's rules (InvalidKey with the reason otherwise)."""
    u = keyrules.parse_s3_url(url)
    keyrules.validate(u.bucket, u.key, allowed)
    return u

"""`smallcut api`: the HTTP surface for shop backends, rembg clients, operators and Prometheus.

One FastAPI app built from routers, one module each: /v1 batches and objects (api_batches), single
cut-outs (api_cutout), rembg's /api/remove (api_rembg), the review page and its calls (api_review),
/metrics (api_metrics) and the event webhook of `smallcut events`. They share api_common only.
Producer side only: it talks to Redis, S3 and the broker and never loads the model (no
onnxruntime/OpenCV import). Every /v1 and /api route needs the bearer token when SMALLCUT_API_TOKEN
is set; the page's browser calls may carry it in the `smallcut_token` cookie.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from smallcut import keys as keyrules

from . import api_batches, api_cutout, api_metrics, api_rembg, api_review
from .api_common import ApiContext
from .api_limits import BodyLimit

log = logging.getLogger(__name__)


async def _http_error(_request, exc: HTTPException):
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _invalid_key(_request, exc: keyrules.InvalidKey):
    return JSONResponse({"error": f"refused: {exc}"}, status_code=400)


async def _invalid_request(_request, exc: RequestValidationError):
    reasons = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors())
    return JSONResponse({"error": reasons or "invalid request"}, status_code=422)


def make_app(settings, status=None, s3=None, celery_app=None) -> FastAPI:
    """The API app; clients default to the ones the settings describe (tests pass their own)."""
    from smallcut import metrics  # noqa: F401 - defines the smallcut_* families on the default registry
    from smallcut.status import StatusStore
    from smallcut.storage import make_client

    from .events import Intake, make_router

    status = status or StatusStore.from_settings(settings)
    s3 = s3 or make_client(settings)
    if celery_app is None:
        from smallcut.celery_config import producer_app

        celery_app = producer_app()

    app = FastAPI(
        title="smallcut", version="1",
        description="Background removal that keeps small objects: single cut-outs, bulk batches, status, review.",
        docs_url="/docs", redoc_url=None,
    )
    app.state.ctx = ApiContext(
        settings=settings, status=status, s3=s3, celery_app=celery_app,
        token=settings.api_token.get_secret_value() if settings.api_token else None,
        thumbnails=api_review.Thumbnails(s3, settings.max_pixels),
        metrics=api_metrics.live_registry(status, settings),
    )
    app.add_middleware(BodyLimit, max_body=settings.api_max_body)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(keyrules.InvalidKey, _invalid_key)
    app.add_exception_handler(RequestValidationError, _invalid_request)

    for router in (api_metrics.router, api_batches.router, api_cutout.router, api_rembg.router,
                   api_review.router, api_review.pages):
        app.include_router(router)
    # the event webhook of `smallcut events serve`, same paths, its own token
    events_token = settings.events_token.get_secret_value() if settings.events_token else None
    app.include_router(make_router(Intake(settings, status, celery_app), events_token, settings.events_max_body),
                       include_in_schema=False)
    return app

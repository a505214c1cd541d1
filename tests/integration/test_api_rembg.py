"""rembg's routes (`/api/remove`) called the way rembg's own server is called, against the real stack.

rembg's server (rembg/commands/s_command.py) takes on POST a multipart `file` with form fields
model, a, af, ab, ae, om, ppm and the query parameters bgc and extras; on GET the same names, all in
the query string, plus `url`. Its answer is image/png. rembg ships no HTTP client of its own: clients
post like these tests (with the bearer token this API asks for).
"""

from __future__ import annotations

import io
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .api_fixtures import FETCH_MAX_BYTES, wait_http
from .conftest import photo

pytestmark = pytest.mark.integration

PHOTO = 61


def png(content: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(content))
    assert img.format == "PNG"
    return img


def test_post_api_remove_as_rembg_clients_call_it(api):
    data = photo(PHOTO)
    size = Image.open(io.BytesIO(data)).size
    with api.client() as c:
        r = c.post("/api/remove", files={"file": ("photo.jpg", data, "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/png"
        served = os.environ.get("SMALLCUT_MODEL", "u2netp")
        assert r.headers["x-smallcut-model"] == served  # rembg's default name, answered by the served model
        cut = png(r.content)
        assert cut.mode == "RGBA" and cut.size == size
        alpha = np.asarray(cut)[..., 3]
        assert alpha.min() == 0 and alpha.max() >= 250 and 0.001 < (alpha > 127).mean() < 0.98

        # om: rembg's "only mask" -> the same matte as a grey PNG (ppm off in both: rembg's default)
        r = c.post("/api/remove", files={"file": ("photo.jpg", data)}, data={"om": "true", "model": "u2net"})
        assert r.status_code == 200, r.text
        mask = png(r.content)
        assert mask.mode == "L" and mask.size == size
        assert np.array_equal(np.asarray(mask), alpha)

        # bgc in the query string (where rembg's server reads it, POST included): flattened on the colour
        r = c.post("/api/remove", params={"bgc": "0,0,255,255"}, files={"file": ("photo.jpg", data)})
        assert r.status_code == 200, r.text
        flat = np.asarray(png(r.content).convert("RGBA"))
        assert (flat[..., 3] == 255).all()
        background = flat[alpha == 0][:, :3]
        assert len(background) and (background == (0, 0, 255)).all()

        # ppm: smallcut's post-processing on (rembg's default is off); a different, still valid matte
        r = c.post("/api/remove", files={"file": ("photo.jpg", data)}, data={"ppm": "true", "om": "true"})
        assert r.status_code == 200, r.text
        post = np.asarray(png(r.content))
        assert post.shape == alpha.shape and 0.001 < (post > 127).mean() < 0.98


def test_what_smallcut_cannot_honour_is_refused_with_the_reason(api):
    data = photo(PHOTO)
    with api.client() as c:
        def post(data_=None, params=None):
            return c.post("/api/remove", files={"file": ("photo.jpg", data)}, data=data_ or {}, params=params)

        cases = [
            (post({"model": "isnet-general-use"}), "not served"),
            (post({"a": "true"}), "alpha matting"),
            (post(params={"extras": '{"sam_prompt": []}'}), "extras"),
            (post(params={"extras": "{not json"}), "extras"),
            (post({"bgc": "255,255,255,255"}), "bgc (form field)"),  # rembg reads bgc from the query only
            (post(params={"om": "true"}), "om (query string)"),  # ... and om from the form only
            (post({"mask": "true"}), "mask (form field)"),
            (post(params={"bgc": "300,0,0"}), "bad colour"),
        ]
        for r, reason in cases:
            assert r.status_code == 400, (reason, r.status_code, r.text)
            assert reason in r.json()["error"], (reason, r.json())
        assert post({"af": "256"}).status_code == 422  # rembg's own range, 0-255

        # /v1/cutout has its own names: rembg's om / query-string bgc are refused, not ignored
        for r in (c.post("/v1/cutout", files={"file": ("x.jpg", data)}, data={"om": "true"}),
                  c.post("/v1/cutout", files={"file": ("x.jpg", data)}, params={"bgc": "255,255,255"})):
            assert r.status_code == 400 and "/api/remove" in r.json()["error"], r.text
    with api.client(token=None) as c:
        assert c.post("/api/remove", files={"file": ("photo.jpg", data)}).status_code == 401


class _Images(BaseHTTPRequestHandler):
    routes: dict = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        kind, value = self.routes.get(self.path, ("status", 404))
        if kind == "slow":
            time.sleep(value)
            kind, value = "body", b"late"
        if kind == "status":
            self.send_response(value)
            self.end_headers()
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", value)
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(value)))
            self.end_headers()
            try:
                self.wfile.write(value)
            except OSError:
                pass

    def log_message(self, *args):
        pass


@pytest.fixture()
def image_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_get_api_remove_fetches_only_allowed_hosts_within_limits(api, image_server):
    port = image_server.server_address[1]
    here = f"http://localhost:{port}"  # the API's allow-list holds `localhost`, not 127.0.0.1
    _Images.routes = {
        "/p/photo.jpg": ("body", photo(PHOTO)),
        "/hop": ("redirect", "/p/photo.jpg"),
        "/away": ("redirect", f"http://127.0.0.1:{port}/p/photo.jpg"),
        "/big.jpg": ("body", b"\xff" * (FETCH_MAX_BYTES + 1)),
        "/slow.jpg": ("slow", 8),
    }
    with api.client() as c:
        r = c.get("/api/remove", params={"url": f"{here}/hop", "om": "true"})
        assert r.status_code == 200, r.text
        assert png(r.content).mode == "L"
        r = c.get("/api/remove", params={"url": f"{here}/p/photo.jpg", "bgc": "255,255,255"})
        assert r.status_code == 200, r.text
        assert png(r.content).mode == "RGBA" and (np.asarray(png(r.content))[..., 3] == 255).all()

        refused = {
            f"http://127.0.0.1:{port}/p/photo.jpg": (403, "allow-list"),
            f"{here}/away": (403, "allow-list"),  # a redirect does not leave the allow-list
            "http://169.254.169.254/latest/meta-data/": (403, "allow-list"),
            "file:///etc/passwd": (400, "http"),
            f"http://user:pw@localhost:{port}/p/photo.jpg": (400, "credentials"),
            f"{here}/missing.jpg": (400, "HTTP 404"),
            f"{here}/big.jpg": (413, str(FETCH_MAX_BYTES)),
            f"{here}/slow.jpg": (504, "longer than"),
        }
        for url, (code, reason) in refused.items():
            r = c.get("/api/remove", params={"url": url})
            assert r.status_code == code and reason in r.json()["error"], (url, r.status_code, r.text)
        r = c.get("/api/remove", params={"url": f"{here}/p/photo.jpg", "a": "true"})
        assert r.status_code == 400 and "alpha matting" in r.json()["error"]
        r = c.get("/api/remove", params={"url": f"{here}/p/photo.jpg", "colour": "red"})
        assert r.status_code == 400 and "colour (query string)" in r.json()["error"]


def test_fetching_by_url_is_off_by_default(env, stack, image_server):
    from smallcut import localstack

    port = localstack.free_port()
    proc = localstack._spawn([sys.executable, "-m", "smallcut.cli", "api", "--port", str(port)],
                             Path(stack.dir) / "api-nofetch.log", {**os.environ, **env, "SMALLCUT_API_TOKEN": ""})
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        import httpx

        url = f"http://127.0.0.1:{image_server.server_address[1]}/p/photo.jpg"
        r = httpx.get(f"http://127.0.0.1:{port}/api/remove", params={"url": url}, timeout=30)
        assert r.status_code == 403 and "off" in r.json()["error"] and "SMALLCUT_API_FETCH_HOSTS" in r.json()["error"]
    finally:
        localstack.stop(proc.pid)
        proc.wait(timeout=30)

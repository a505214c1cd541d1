"""Fetching an image by URL for `GET /api/remove?url=...`: off unless an allow-list of hosts is set.

A server that fetches any URL it is given is an SSRF door: cloud metadata at 169.254.169.254, the
Redis and S3 beside the API, anything on the private network. So: http(s) only, the host must be on
SMALLCUT_API_FETCH_HOSTS (an entry `.example.com` admits that domain and the hosts under it),
redirects are followed only to allowed hosts, the body stops at SMALLCUT_API_FETCH_MAX_BYTES and the
whole fetch, redirects included, at SMALLCUT_API_FETCH_TIMEOUT seconds. Standard library only.
"""

from __future__ import annotations

import http.client
import time
from urllib.parse import SplitResult, unquote, urljoin, urlsplit

MAX_REDIRECTS = 3
CHUNK = 64 * 1024


class FetchRefused(Exception):
    """The URL was not fetched: an HTTP status for the caller and the reason."""

    def __init__(self, status_code: int, reason: str) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.reason = reason


def host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = entry.strip().lower().rstrip(".")
        if entry.startswith("."):
            if host == entry[1:] or host.endswith(entry):
                return True
        elif entry and host == entry:
            return True
    return False


def check_url(url: str, allowed: list[str]) -> SplitResult:
    """The parsed URL when it may be fetched; FetchRefused (403 when off or not allowed) otherwise."""
    if not allowed:
        raise FetchRefused(403, "fetching an image by URL is off on this server (it would let callers reach "
                                "internal addresses); POST the image to /api/remove as multipart `file`, or set "
                                "SMALLCUT_API_FETCH_HOSTS to the hosts it may fetch from")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise FetchRefused(400, f"bad URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(400, f"only http:// and https:// URLs are fetched, not {parts.scheme or 'no scheme'!r}")
    if not parts.hostname:
        raise FetchRefused(400, f"bad URL {url!r}: no host")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused(400, "URLs with credentials are not fetched")
    if not host_allowed(parts.hostname, allowed):
        raise FetchRefused(403, f"host {parts.hostname!r} is not on this server's fetch allow-list "
                                "(SMALLCUT_API_FETCH_HOSTS)")
    return parts


def fetch(url: str, allowed: list[str], max_bytes: int, timeout: float) -> tuple[bytes, str]:
    """(body, file name from the URL's path) of an allowed URL; FetchRefused with the reason otherwise."""
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = check_url(url, allowed)
        try:
            status, location, body = _get(parts, max_bytes, deadline, timeout)
        except TimeoutError:  # socket.timeout is TimeoutError
            raise FetchRefused(504, f"fetching {url} took longer than {timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise FetchRefused(400, f"could not fetch {url}: {exc or type(exc).__name__}") from None
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise FetchRefused(400, f"{url} answered HTTP {status} without a Location")
            url = urljoin(url, location)
            continue
        if status != 200:
            raise FetchRefused(400, f"{url} answered HTTP {status}")
        return body, unquote(parts.path.rsplit("/", 1)[-1])
    raise FetchRefused(400, f"more than {MAX_REDIRECTS} redirects")


def _get(parts: SplitResult, max_bytes: int, deadline: float, timeout: float) -> tuple[int, str | None, bytes]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=remaining)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request("GET", path, headers={"User-Agent": "smallcut-api", "Accept": "image/*"})
        sock = conn.sock  # the connection lets go of it once the response is read to its end
        resp = conn.getresponse()
        if resp.status != 200:
            return resp.status, resp.getheader("Location"), b""
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchRefused(413, f"the image at the URL has {declared} bytes, above the limit of {max_bytes}")
        body = bytearray()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)  # each read waits at most until the deadline
            chunk = resp.read1(CHUNK)
            if not chunk:
                return 200, None, bytes(body)
            body += chunk
            if len(body) > max_bytes:
                raise FetchRefused(413, f"the image at the URL is above the limit of {max_bytes} bytes")
    finally:
        conn.close()

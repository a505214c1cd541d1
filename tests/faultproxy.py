"""A small HTTP fault proxy for an S3 server (stdlib only, 127.0.0.1): forwards every request, or
injects a fault into the next N requests that match a rule, and records every request it saw.

Faults: "slowdown" (503 SlowDown, S3's throttling answer), "reset" (TCP RST, no response), "delay"
(forward after a pause), "deny" (403 AccessDenied), "outage" (the matching request is reset and the
proxy goes down). Rules match on method and a path substring, so a test can aim at one key while the
rest of the traffic passes.

Down (`go_down`, or an "outage" rule) is S3 unreachable as a client sees a dead endpoint: the port
stops listening (new connections are refused) and open keep-alive connections are reset; `come_up`
listens on the same port again. The S3 server behind keeps running, so every object is still there
after, as with a real outage of the endpoint.
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ERRORS = {
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "deny": (403, "AccessDenied", "Access Denied"),
}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "upgrade"}


@dataclass
class Rule:
    kind: str
    remaining: int
    method: str | None = None
    path_contains: str | None = None
    delay: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.remaining > 0 and (self.method is None or self.method == method)
                and (self.path_contains is None or self.path_contains in path))


@dataclass
class Seen:
    method: str
    path: str
    outcome: str  # the fault injected, or the upstream status code
    at: float = field(default_factory=time.monotonic)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # server_close joins no handler thread: go_down may run on one

    def handle_error(self, request, client_address) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], OSError):  # resets are what this server is for
            super().handle_error(request, client_address)


class FaultProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive like S3; answers Expect: 100-continue itself

            def log_message(self, *args) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._conns.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._conns.discard(self.connection)
                try:
                    super().finish()
                except OSError:  # reset by go_down
                    pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self._handler = Handler
        self._conns: set[socket.socket] = set()
        self._updown = threading.Lock()  # one go_down / come_up at a time
        self.down = False
        self._listen(0)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> None:
        self.server = _Server(("127.0.0.1", port), self._handler)  # SO_REUSEADDR: same port again
        self._thread = threading.Thread(target=self.server.serve_forever, name="faultproxy", daemon=True)

    def __enter__(self) -> "FaultProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.down:
            self.server.shutdown()
            self.server.server_close()

    # ------------------------------------------------------------------ test API
    def inject(self, kind: str, count: int, *, method: str | None = None, path_contains: str | None = None,
               delay: float = 0.0) -> None:
        assert kind in (*ERRORS, "reset", "delay", "outage"), kind
        with self._lock:
            self.rules.append(Rule(kind, count, method, path_contains, delay))

    def clear(self) -> None:
        """End every injected fault now (the end of an outage)."""
        with self._lock:
            self.rules.clear()

    def go_down(self) -> None:
        """S3 unreachable: stop listening (connections are refused) and reset every open connection."""
        with self._updown:
            if self.down:
                return
            self.down = True
            self.server.shutdown()  # serve_forever runs on its own thread: safe from a handler thread
            self.server.server_close()
            with self._lock:
                conns, self._conns = list(self._conns), set()
            for conn in conns:
                _reset(conn, wake=True)

    def come_up(self) -> None:
        """Listen on the same port again: the endpoint is back, with everything it held."""
        with self._updown:
            if not self.down:
                return
            self._listen(self.port)
            self._thread.start()
            self.down = False

    def requests(self, method: str | None = None, path_contains: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if (method is None or s.method == method)
                    and (path_contains is None or path_contains in s.path)]

    # ------------------------------------------------------------------ proxying
    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    rule.remaining -= 1
                    return rule
        return None

    def _record(self, method: str, path: str, outcome: str) -> None:
        with self._lock:
            self.seen.append(Seen(method, path, outcome))

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        method, path = h.command, h.path
        rule = None if self.down else self._take(method, path)
        if self.down or (rule is not None and rule.kind in ("reset", "outage")):
            self._record(method, path, "down" if self.down else rule.kind)
            h.close_connection = True
            if rule is not None and rule.kind == "outage":
                self.go_down()  # down before the client sees this request fail; resets this connection too
            _reset(h.connection)
            return
        if rule is not None and rule.kind in ERRORS:
            status, code, message = ERRORS[rule.kind]
            self._record(method, path, code)
            xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>'
                   f"<Resource>{path}</Resource><RequestId>faultproxy</RequestId></Error>").encode()
            h.send_response(status)
            h.send_header("Content-Type", "application/xml")
            h.send_header("Content-Length", str(len(xml)))
            h.end_headers()
            if method != "HEAD":
                h.wfile.write(xml)
            return
        if rule is not None and rule.kind == "delay":
            time.sleep(rule.delay)
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
            conn.request(method, path, body=body if (body or method in ("PUT", "POST")) else None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self._record(method, path, str(resp.status) if rule is None else f"delay {resp.status}")
            h.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    h.send_header(k, v)
            # HEAD: the object's size, as upstream said it (there is no body)
            h.send_header("Content-Length", resp.getheader("Content-Length", "0") if method == "HEAD" else str(len(data)))
            h.end_headers()
            if method != "HEAD":
                h.wfile.write(data)
        finally:
            conn.close()


def _reset(conn: socket.socket, *, wake: bool = False) -> None:
    """Close with linger 0: the peer sees a connection reset, not a clean close. `wake`: shut it down
    first, which acts at once even while another thread (its handler) is blocked reading it and its
    files (rfile, wfile) keep close() from releasing it."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if wake:
            conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    conn.close()

"""Redis connection options from settings, in one place, so every client speaks TLS the same way.

The status store, the API's queue gauges and the worker-readiness probe use redis-py directly; the
Celery broker gets the same `ssl_*` options as `broker_use_ssl`. A `rediss://` URL always verifies the
server's certificate (against SMALLCUT_REDIS_TLS_CA_FILE, else the system store) and its host name:
left to itself, kombu connects to a `rediss://` broker without verifying anything.
"""

from __future__ import annotations

import ssl


def is_tls(url: str) -> bool:
    return url.startswith("rediss://")


def tls_options(settings, url: str) -> dict:
    """redis-py `ssl_*` keyword arguments for `url` (also Celery's `broker_use_ssl`); {} for a plain URL."""
    if not is_tls(url):
        return {}
    opts: dict = {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
    if settings.redis_tls_ca_file:
        opts["ssl_ca_certs"] = str(settings.redis_tls_ca_file)
    if settings.redis_tls_cert_file:  # mutual TLS: the server checks us too
        opts["ssl_certfile"] = str(settings.redis_tls_cert_file)
        if settings.redis_tls_key_file:
            opts["ssl_keyfile"] = str(settings.redis_tls_key_file)
    return opts


def client(settings, url: str | None = None, **kwargs):
    """A redis-py client for `url` (default: SMALLCUT_REDIS_URL) with the TLS options it needs."""
    import redis

    url = url or settings.redis_url.get_secret_value()
    return redis.Redis.from_url(url, **{**tls_options(settings, url), **kwargs})

"""Which TLS options each Redis client gets from settings (the real TLS server: tests/integration/test_redis_tls.py)."""

from __future__ import annotations

import ssl

import pytest

from smallcut.redisconn import client, tls_options
from smallcut.settings import Settings


@pytest.fixture
def pem(tmp_path):
    files = {}
    for name in ("ca.pem", "client.pem", "client.key"):
        files[name] = tmp_path / name
        files[name].write_text("not parsed until a connection is made\n")
    return files


def test_plain_urls_get_no_tls_options(pem):
    s = Settings(_env_file=None, redis_url="redis://h:6379/0")
    assert tls_options(s, "redis://h:6379/0") == {} and tls_options(s, "unix:///run/redis.sock") == {}
    # a rediss:// broker next to a plain status store: the files apply to the broker only
    s = Settings(_env_file=None, redis_url="redis://h:6379/0", broker_url="rediss://b:6380/0",
                 redis_tls_ca_file=pem["ca.pem"])
    assert tls_options(s, s.redis_url.get_secret_value()) == {}
    assert tls_options(s, s.broker)["ssl_ca_certs"] == str(pem["ca.pem"])


def test_rediss_always_verifies_the_server(pem):
    bare = Settings(_env_file=None, redis_url="rediss://h:6380/0")
    assert tls_options(bare, bare.broker) == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True}
    full = Settings(_env_file=None, redis_url="rediss://h:6380/0", redis_tls_ca_file=pem["ca.pem"],
                    redis_tls_cert_file=pem["client.pem"], redis_tls_key_file=pem["client.key"])
    assert tls_options(full, full.broker) == {
        "ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_check_hostname": True, "ssl_ca_certs": str(pem["ca.pem"]),
        "ssl_certfile": str(pem["client.pem"]), "ssl_keyfile": str(pem["client.key"])}


def test_every_client_gets_the_options(pem):
    from redis.connection import SSLConnection

    from workers.celery_app import celery_config

    s = Settings(_env_file=None, redis_url="rediss://:pw@h:6380/0", redis_tls_ca_file=pem["ca.pem"])
    r = client(s, socket_timeout=1)
    kwargs = r.connection_pool.connection_kwargs
    assert r.connection_pool.connection_class is SSLConnection
    assert kwargs["ssl_ca_certs"] == str(pem["ca.pem"]) and kwargs["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    assert kwargs["socket_timeout"] == 1
    assert celery_config(s)["broker_use_ssl"] == tls_options(s, s.broker)
    assert celery_config(Settings(_env_file=None, redis_url="redis://h:6379/0"))["broker_use_ssl"] is None


def test_tls_files_need_a_rediss_url_and_a_key_needs_a_certificate(pem):
    with pytest.raises(ValueError, match="rediss://"):
        Settings(_env_file=None, redis_url="redis://:pw-in-url@h:6379/0", redis_tls_ca_file=pem["ca.pem"])
    with pytest.raises(ValueError, match="CERT_FILE"):
        Settings(_env_file=None, redis_url="rediss://h:6380/0", redis_tls_key_file=pem["client.key"])
    with pytest.raises(ValueError, match="redis_tls_ca_file"):  # a missing file fails at start, not at first use
        Settings(_env_file=None, redis_url="rediss://h:6380/0", redis_tls_ca_file=pem["ca.pem"].parent / "nope.pem")


def test_validation_errors_do_not_echo_the_url(pem):
    with pytest.raises(ValueError) as err:
        Settings(_env_file=None, redis_url="redis://:pw-in-url@h:6379/0", redis_tls_ca_file=pem["ca.pem"])
    assert "pw-in-url" not in str(err.value)

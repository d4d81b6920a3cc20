"""A pinned HTTPS notification still verifies the receiver's certificate by name (real TLS)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.store import Store
from tests.ngsild.test_subscriptions import meter, status, subscribe, subscription, wait_until
from tests.servers import loopback_settings


def _certificate(subject: str, key: Any, issuer: x509.Name, signer: Any,
                 ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A test CA, and a certificate for the name localhost that it signed."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "civictwin test CA")])
    ca = _certificate("civictwin test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _certificate("localhost", key, ca_name, ca_key, ca=False)
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


@pytest.fixture
def https_receiver(tls_files: tuple[Path, Path, Path]) -> Iterator[tuple[int, list[Any]]]:
    """An HTTPS server on loopback for the name localhost; yields its port and what it got."""
    _, cert_file, key_file = tls_files
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((body, self.headers["Host"]))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()
    thread.join()


def test_https_notification_goes_to_the_checked_address_and_verifies_the_name(
        store: Store, tenant: str, tls_files: tuple[Path, Path, Path],
        https_receiver: tuple[int, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    port, received = https_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # trust the test CA only
    app = create_app(loopback_settings(), store=store)
    with TestClient(app, headers={"NGSILD-Tenant": tenant}) as client:
        location = subscribe(client, subscription(f"https://localhost:{port}/notify"))
        assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
        wait_until(lambda: len(received) == 1)
        body, host = received[0]
        assert body["data"][0]["id"] == "urn:ngsi-ld:Meter:1"
        assert host == f"localhost:{port}"
        wait_until(lambda: status(client, location).get("status") == "ok")


def test_a_certificate_for_another_name_is_refused(
        store: Store, tenant: str, tls_files: tuple[Path, Path, Path],
        https_receiver: tuple[int, list[Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    port, received = https_receiver
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    app = create_app(loopback_settings(), store=store)
    with TestClient(app, headers={"NGSILD-Tenant": tenant}) as client:
        # 127.0.0.1 is allowed, but the certificate names localhost: TLS must refuse it.
        location = subscribe(client, subscription(f"https://127.0.0.1:{port}/notify"))
        assert client.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
        wait_until(lambda: status(client, location).get("timesFailed", 0) >= 1)
        assert received == []

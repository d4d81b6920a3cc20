"""Security gaps closed: signed-token replay, anonymous catalogue reads, harvest targets."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from starlette.responses import RedirectResponse

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.auth import ensure_identity, load_signing_key, sign_token
from civictwin.dataspace.participants import Participants
from civictwin.store import Store
from tests.conftest import operator_key
from tests.servers import free_port, serve_app

TYPES = "/ngsi-ld/v1/types"


@pytest.fixture
def signer(store: Store, tmp_path: Path) -> Iterator[tuple[TestClient, Settings, str]]:
    """A twin, a consumer with a registered public key, and the twin's participant id."""
    twin_id = f"urn:civictwin:participant:twin-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url="sqlite://", participant_id=twin_id,
                        signing_key_file=str(tmp_path / "twin.pem"))
    consumer = Settings(participant_id=f"urn:civictwin:participant:c-{uuid.uuid4().hex[:8]}",
                        signing_key_file=str(tmp_path / "consumer.pem"))
    Participants(store).add(consumer.participant_id, "Consumer", {"consumer"},
                            f"c{uuid.uuid4().hex[:8]}", "research", ensure_identity(consumer))
    with TestClient(create_app(settings, store=store)) as client:
        yield client, consumer, twin_id


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(consumer: Settings, audience: str, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": consumer.participant_id, "aud": audience, "iat": now,
            "exp": now + 60, "jti": uuid.uuid4().hex, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, load_signing_key(consumer), algorithm="EdDSA")


def test_a_signed_token_is_accepted_once(signer: tuple[TestClient, Settings, str]) -> None:
    client, consumer, twin = signer
    token = sign_token(consumer, twin)
    assert client.get(TYPES, headers=_bearer(token)).status_code == 200
    replayed = client.get(TYPES, headers=_bearer(token))
    assert replayed.status_code == 401, replayed.text
    assert "used before" in replayed.json()["detail"]
    assert "invalid_token" in replayed.headers["www-authenticate"]
    assert client.get(TYPES, headers=_bearer(sign_token(consumer, twin))).status_code == 200


def test_tokens_without_jti_or_living_too_long_are_refused(
        signer: tuple[TestClient, Settings, str]) -> None:
    client, consumer, twin = signer
    no_jti = client.get(TYPES, headers=_bearer(_token(consumer, twin, jti=None)))
    assert no_jti.status_code == 401 and "jti" in no_jti.json()["detail"]
    long_lived = _token(consumer, twin, exp=int(time.time()) + 7200)
    answer = client.get(TYPES, headers=_bearer(long_lived))
    assert answer.status_code == 401 and "longer than 3600" in answer.json()["detail"]


def test_anonymous_catalogue_reads_are_confined_to_open_data_tenants(store: Store) -> None:
    secret, open_data = f"s{uuid.uuid4().hex[:8]}", f"o{uuid.uuid4().hex[:8]}"
    app = create_app(Settings(database_url="sqlite://", anonymous_read=(open_data,)),
                     store=store)
    with TestClient(app) as client:
        for path in ("/catalog", "/catalog/datasets", "/api/3/action/package_list"):
            refused = client.get(path, headers={"NGSILD-Tenant": secret})
            assert refused.status_code == 401, (path, refused.text)
            assert secret in refused.json()["detail"]
            assert client.get(path, headers={"NGSILD-Tenant": open_data}).status_code == 200
            assert client.get(path).status_code == 200  # the default tenant's catalogue
        operator = {"Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": secret}
        assert client.get("/catalog/datasets", headers=operator).status_code == 200


@pytest.fixture
def redirector() -> Iterator[str]:
    """A loopback server that redirects every request to 127.0.0.2 (loopback too)."""
    target = f"http://127.0.0.2:{free_port()}/catalog.ttl"

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await RedirectResponse(target, status_code=302)(scope, receive, send)

    with serve_app(app, access_log=False) as url:
        yield url


def test_harvest_urls_get_the_outbound_allow_list(store: Store, tenant: str,
                                                  redirector: str) -> None:
    def client_with(allowlist: tuple[str, ...]) -> TestClient:
        settings = Settings(database_url="sqlite://", notification_allowlist=allowlist)
        return TestClient(create_app(settings, store=store), headers={
            "Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": tenant})

    with client_with(()) as client:
        for url in ("http://127.0.0.1:9/catalog.ttl", "http://10.1.2.3/catalog.ttl",
                    "http://169.254.169.254/latest/meta-data", "http://[::1]:9/c.ttl"):
            refused = client.post("/catalog/harvests", json={"url": url})
            assert refused.status_code == 400, (url, refused.text)
            assert "notification_allowlist" in refused.json()["detail"]
        assert client.get("/catalog/harvests").json() == []  # nothing was recorded
    with client_with(("127.0.0.1",)) as client:
        followed = client.post("/catalog/harvests", json={"url": f"{redirector}/catalog.ttl"})
        assert followed.status_code == 400, followed.text
        assert "127.0.0.2" in followed.json()["detail"]  # the redirect was checked too


@pytest.mark.parametrize("path", ["/catalog/harvests", "/catalog/datasets",
                                  "/api/3/action/package_search", "/consent",
                                  "/ngsi-ld/v1/entities", "/dsp/catalog/request"])
def test_every_route_bounds_the_body_it_reads(store: Store, tenant: str, path: str) -> None:
    settings = Settings(database_url="sqlite://", max_body_bytes=2048)
    headers = {"Authorization": f"Bearer {operator_key(store)}", "NGSILD-Tenant": tenant,
               "Content-Type": "application/json"}
    big = b'{"url": "' + b"x" * 4096 + b'"}'
    with TestClient(create_app(settings, store=store), headers=headers) as client:
        declared = client.post(path, content=big)
        assert declared.status_code == 400, declared.text
        assert "larger than 2048" in declared.json()["detail"]
        streamed = client.post(path, content=iter([big[:1500], big[1500:]]))
        assert streamed.status_code == 400, streamed.text
        assert "larger than 2048" in streamed.json()["detail"]

"""App-wide authentication: API keys, signed tokens, tenants, public paths, open data."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.auth import current_participant
from civictwin.dataspace.participants import Participant, Participants
from civictwin.store import Store

TWIN_ID = "urn:civictwin:participant:test-twin"
SENSOR = {"id": "urn:ngsi-ld:Sensor:1", "type": "Sensor",
          "noise": {"type": "Property", "value": 61}}


@pytest.fixture
def app_client(store: Store) -> Iterator[TestClient]:
    """A client of a twin with authentication on, sending no credential of its own."""
    app = create_app(Settings(database_url="sqlite://", participant_id=TWIN_ID), store=store)
    with TestClient(app) as client:
        yield client


def _participant(store: Store, roles: set[str], tenant: str,
                 public_key: str | None = None) -> tuple[Participant, str]:
    participants = Participants(store)
    found = participants.add(f"urn:p:{uuid.uuid4().hex[:10]}", "Org", roles, tenant, "ngo",
                             public_key)
    return found, participants.issue_key(found.id).key


def _bearer(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


def test_no_credential_is_401_with_a_challenge_everywhere(app_client: TestClient) -> None:
    for method, path in (("GET", "/ngsi-ld/v1/entities?type=Sensor"),
                         ("POST", "/ngsi-ld/v1/entities"), ("GET", "/ngsi-ld/v1/types"),
                         ("POST", "/dsp/catalog/request"), ("GET", "/no/such/path")):
        answer = app_client.request(method, path)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="civictwin"'
        problem = answer.json()
        assert problem["type"].endswith("/Unauthorized") and problem["status"] == 401
        assert "Authorization: Bearer" in problem["detail"]
        assert problem["instance"] == path.split("?")[0]


def test_public_paths_may_be_read_without_a_credential(app_client: TestClient) -> None:
    assert app_client.get("/.well-known/dspace-version").status_code == 200
    assert app_client.get("/docs").status_code == 200
    assert app_client.get("/catalog").status_code == 200
    assert app_client.post("/catalog/datasets", json={}).status_code == 401
    bad = app_client.get("/catalog", headers=_bearer("ctk_bad.key"))
    assert bad.status_code == 401
    assert app_client.get("/web/").status_code != 401
    assert app_client.get("/web/map").status_code == 401
    assert app_client.get("/tiles/buildings/15/16779/10991.mvt").status_code == 401


def test_a_router_added_later_is_protected_too(store: Store, tenant: str) -> None:
    app = create_app(Settings(database_url="sqlite://"), store=store)
    later = APIRouter()

    @later.get("/later/whoami")
    def whoami(who: Annotated[Participant, Depends(current_participant)]) -> dict[str, Any]:
        return {"id": who.id, "tenant": who.tenant}

    app.include_router(later)
    found, key = _participant(store, {"consumer"}, tenant)
    with TestClient(app) as client:
        assert client.get("/later/whoami").status_code == 401
        assert client.get("/later/whoami", headers=_bearer(key)).json() == {
            "id": found.id, "tenant": tenant}


def test_a_bad_key_is_401_and_never_logged(app_client: TestClient, store: Store,
                                          caplog: pytest.LogCaptureFixture) -> None:
    _, key = _participant(store, {"consumer"}, "")
    wrong = key[:-4] + "abcd"
    with caplog.at_level(logging.DEBUG):
        for credential in (wrong, "ctk_unknown.secret", "not-a-token"):
            answer = app_client.get("/ngsi-ld/v1/types", headers=_bearer(credential))
            assert answer.status_code == 401
            assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
        assert app_client.get("/ngsi-ld/v1/types", headers={"Authorization": key}).status_code \
            == 401
        assert app_client.get("/ngsi-ld/v1/types", headers=_bearer(key)).status_code == 200
    assert key not in caplog.text and wrong not in caplog.text


def test_a_participant_acts_in_its_own_tenant(app_client: TestClient, store: Store,
                                              tenant: str) -> None:
    _, key = _participant(store, {"provider"}, tenant)
    _, operator = _participant(store, {"operator"}, "")
    made = app_client.post("/ngsi-ld/v1/entities", json=SENSOR, headers=_bearer(key))
    assert made.status_code == 201, made.text
    own = app_client.get(f"/ngsi-ld/v1/entities/{SENSOR['id']}",
                         headers=_bearer(operator, **{"NGSILD-Tenant": tenant}))
    assert own.status_code == 200
    elsewhere = app_client.get("/ngsi-ld/v1/types",
                               headers=_bearer(key, **{"NGSILD-Tenant": "someone-else"}))
    assert elsewhere.status_code == 403
    assert f"acts in tenant {tenant!r}" in elsewhere.json()["detail"]
    assert "someone-else" in elsewhere.json()["detail"]
    assert app_client.get("/ngsi-ld/v1/types", headers=_bearer(
        operator, **{"NGSILD-Tenant": "someone-else"})).status_code == 200


def test_suspension_stops_a_participant_at_once(app_client: TestClient, store: Store) -> None:
    found, key = _participant(store, {"consumer"}, "")
    assert app_client.get("/ngsi-ld/v1/types", headers=_bearer(key)).status_code == 200
    Participants(store).set_status(found.id, "suspended")
    refused = app_client.get("/ngsi-ld/v1/types", headers=_bearer(key))
    assert refused.status_code == 403 and "suspended" in refused.json()["detail"]
    Participants(store).set_status(found.id, "active")
    assert app_client.get("/ngsi-ld/v1/types", headers=_bearer(key)).status_code == 200


def _pem(private: Any) -> str:
    return str(private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


@pytest.mark.parametrize(("algorithm", "make"), [
    ("EdDSA", ed25519.Ed25519PrivateKey.generate),
    ("ES256", lambda: ec.generate_private_key(ec.SECP256R1())),
])
def test_signed_tokens_are_checked_for_key_issuer_audience_and_time(
        app_client: TestClient, store: Store, algorithm: str, make: Any) -> None:
    private = make()
    found, _ = _participant(store, {"consumer"}, "", _pem(private))
    now = int(time.time())
    good = {"iss": found.id, "aud": TWIN_ID, "iat": now, "exp": now + 60, "jti": uuid.uuid4().hex}

    def status(claims: dict[str, Any], key: Any = private) -> int:
        token = jwt.encode(claims, key, algorithm=algorithm)
        return app_client.get("/ngsi-ld/v1/types", headers=_bearer(token)).status_code

    assert status(good) == 200
    assert status({**good, "exp": now - 120}) == 401
    assert status({**good, "nbf": now + 600}) == 401
    assert status({**good, "aud": "urn:someone-else"}) == 401
    assert status({**good, "iss": "urn:unknown"}) == 401
    assert status({k: v for k, v in good.items() if k != "exp"}) == 401
    assert status(good, make()) == 401
    detail = app_client.get("/ngsi-ld/v1/types", headers=_bearer(jwt.encode(
        {**good, "aud": "urn:x"}, private, algorithm=algorithm))).json()["detail"]
    assert "audience" in detail.lower()


def test_open_data_tenants_may_be_read_anonymously(store: Store, tenant: str) -> None:
    settings = Settings(database_url="sqlite://", anonymous_read=f"{tenant},default")
    _, operator = _participant(store, {"operator"}, "")
    with TestClient(create_app(settings, store=store)) as client:
        client.post("/ngsi-ld/v1/entities", json=SENSOR,
                    headers=_bearer(operator, **{"NGSILD-Tenant": tenant}))
        read = client.get(f"/ngsi-ld/v1/entities/{SENSOR['id']}",
                          headers={"NGSILD-Tenant": tenant})
        assert read.status_code == 200 and read.json()["noise"]["value"] == 61
        assert client.get("/ngsi-ld/v1/types").status_code == 200
        assert client.post("/ngsi-ld/v1/entities", json=SENSOR,
                           headers={"NGSILD-Tenant": tenant}).status_code == 401
        assert client.get("/ngsi-ld/v1/types", headers={"NGSILD-Tenant": "closed"}) \
            .status_code == 401
        assert client.post("/dsp/catalog/request", json={}).status_code == 401
        assert client.get("/web/map", headers={"NGSILD-Tenant": tenant}).status_code == 200
        assert client.get("/web/map", headers={"NGSILD-Tenant": "closed"}).status_code == 401


def test_audit_is_for_operators_and_consent_for_data_holders(app_client: TestClient,
                                                             store: Store, tenant: str) -> None:
    _, consumer = _participant(store, {"consumer"}, tenant)
    _, provider = _participant(store, {"provider"}, tenant)
    _, operator = _participant(store, {"operator"}, "")
    as_operator = _bearer(operator, **{"NGSILD-Tenant": tenant})
    for path in ("/audit", "/audit/verify", "/audit/export"):
        for key in (consumer, provider):
            refused = app_client.get(path, headers=_bearer(key))
            assert refused.status_code == 403, (path, refused.text)
            assert "The audit log is for participants with the role operator" in \
                refused.json()["detail"]
        assert app_client.get(path, headers=as_operator).status_code == 200
    refused = app_client.get("/consent", headers=_bearer(consumer))
    assert refused.status_code == 403
    assert "intermediary or operator or provider" in refused.json()["detail"]
    assert app_client.post("/consent", json={}, headers=_bearer(consumer)).status_code == 403
    assert app_client.get("/consent", headers=_bearer(provider)).status_code == 200
    assert app_client.get("/consent", headers=as_operator).status_code == 200

"""Endpoint safety: the twin calls only public addresses unless the operator allow-lists more."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.ngsild.outbound import EndpointRefused, OutboundPolicy
from civictwin.store import Store, open_store
from tests.ngsild.test_subscriptions import (
    SUBS,
    Receiver,
    meter,
    problem,
    status,
    subscribe,
    subscription,
    wait_until,
)
from tests.servers import loopback_settings, serve_twin

REGS = "/ngsi-ld/v1/csourceRegistrations"


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:8080/n", "http://localhost/n", "http://[::1]:9/n", "http://10.1.2.3/n",
    "https://192.168.0.10/n", "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/n",
    "mqtt://172.16.0.1:1883/topic", "http://[fe80::1]/n", "http://100.64.0.1/n",
])
def test_non_public_addresses_are_refused_by_default(uri: str) -> None:
    with pytest.raises(EndpointRefused, match="notification_allowlist"):
        OutboundPolicy().addresses(uri)


def test_allowlist_names_hosts_addresses_and_networks() -> None:
    policy = OutboundPolicy.of(["localhost", "10.0.0.0/8", "::1", " "])
    assert [str(a) for a in policy.addresses("http://10.9.8.7:1/x")] == ["10.9.8.7"]
    assert policy.addresses("http://[::1]:1/x")
    assert any(a.is_loopback for a in policy.addresses("http://LOCALHOST:1/x"))
    with pytest.raises(EndpointRefused):
        policy.addresses("http://192.168.1.1/x")
    assert OutboundPolicy().addresses("http://93.184.215.14/x")  # a public address


def test_pinned_request_keeps_the_host_and_tls_name() -> None:
    pinned = OutboundPolicy.of(["localhost"]).pin("https://user@localhost:8443/a?b=1")
    assert pinned.url in ("https://127.0.0.1:8443/a?b=1", "https://[::1]:8443/a?b=1")
    assert pinned.headers == {"Host": "localhost:8443"}
    assert pinned.extensions == {"sni_hostname": "localhost"}


def test_unknown_names_pass_creation_but_not_delivery() -> None:
    policy = OutboundPolicy()
    policy.admit("http://twin-1.example/n", "endpoint")  # may resolve later
    with pytest.raises(EndpointRefused, match="cannot resolve"):
        policy.addresses("http://twin-1.example/n")


def test_default_settings_refuse_loopback_subscriptions_and_registrations(
        store: Store, tenant: str) -> None:
    app = create_app(Settings(database_url="sqlite://", auth_required=False), store=store)
    with TestClient(app, headers={"NGSILD-Tenant": tenant}) as client:
        for uri in ("http://127.0.0.1:9/n", "http://localhost:9/n", "mqtt://[::1]:1883/t"):
            problem(client.post(SUBS, json=subscription(uri)), 400, "BadRequestData")
        assert client.get(SUBS).json() == []
        location = subscribe(client, subscription("http://93.184.215.14/n"))
        problem(client.patch(location, json={"notification": {
            "endpoint": {"uri": "http://169.254.169.254/"}}}), 400, "BadRequestData")
        assert client.get(location).json()["notification"]["endpoint"]["uri"] == \
            "http://93.184.215.14/n"
        reg = {"type": "ContextSourceRegistration", "endpoint": "http://127.0.0.1:1026",
               "information": [{"entities": [{"type": "Meter"}]}]}
        problem(client.post(REGS, json=reg), 400, "BadRequestData")
        assert client.get(REGS).json() == []


def test_delivery_checks_the_endpoint_again(tmp_path: Path, tenant: str,
                                            receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'twin.db'}"
    headers = {"NGSILD-Tenant": tenant}
    first = open_store(url)
    # Created while loopback was allowed; the app's lifespan never runs, nothing is sent.
    allowed = TestClient(create_app(loopback_settings(database_url=url), store=first),
                         headers=headers)
    location = subscribe(allowed, subscription(receiver.url))
    assert allowed.post("/ngsi-ld/v1/entities", json=meter(1)).status_code == 201
    first.close()
    second = open_store(url)
    try:
        with TestClient(create_app(Settings(database_url=url, auth_required=False), store=second),
                        headers=headers) as client:
            wait_until(lambda: status(client, location).get("timesFailed", 0) >= 1)
            assert receiver.received == []
            # The endpoint is no longer allowed, yet the subscription can still be paused.
            assert client.patch(location, json={"isActive": False}).status_code == 204
    finally:
        second.close()


def test_federation_refuses_a_source_that_became_private(store: Store, tenant: str) -> None:
    with serve_twin(store) as source:
        reg = {"type": "ContextSourceRegistration", "endpoint": source,
               "information": [{"entities": [{"type": "Meter"}]}]}
        allowed = TestClient(create_app(loopback_settings(), store=store),
                             headers={"NGSILD-Tenant": tenant})
        assert allowed.post(REGS, json=reg).status_code == 201
        strict = TestClient(create_app(Settings(database_url="sqlite://", auth_required=False),
                                       store=store),
                            headers={"NGSILD-Tenant": tenant})
        answer = strict.get("/ngsi-ld/v1/entities", params={"type": "Meter"})
        assert answer.status_code == 200 and answer.json() == []
        assert "loopback" in answer.headers["NGSILD-Warning"]
        assert allowed.get("/ngsi-ld/v1/entities",
                           params={"type": "Meter"}).headers.get("NGSILD-Warning") is None

"""Health, readiness, metrics and request logs, on both stores."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.ops.logs import configure_logging, scrub
from civictwin.store import Store, open_store
from tests.servers import loopback_settings

SENSOR = {"id": "urn:ngsi-ld:Sensor:ops1", "type": "Sensor",
          "noise": {"type": "Property", "value": 61}}


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}


def test_not_ready_while_the_notifier_is_stopped(store: Store) -> None:
    app = create_app(loopback_settings(), store=store)
    plain = TestClient(app)  # no `with`: the lifespan, hence the notifier, never starts
    ready = plain.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "notifier not running"
    assert ready.headers["Retry-After"]
    assert plain.get("/health").status_code == 200


def test_not_ready_on_an_old_schema(tmp_path: Path) -> None:
    old = open_store(f"sqlite:///{tmp_path / 'old.db'}", migrate=False)
    old.migrate(upto=2)
    with TestClient(create_app(loopback_settings(), store=old)) as client:
        ready = client.get("/ready")
    old.close()
    assert ready.status_code == 503
    assert ready.json()["reason"].startswith("database schema not migrated: missing versions [3")


def test_metrics_count_requests_by_route_and_read_the_outbox(client: TestClient) -> None:
    assert client.post("/ngsi-ld/v1/entities", json=SENSOR).status_code == 201
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:nope").status_code == 404
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert ('civictwin_http_requests_total{method="POST",route="/ngsi-ld/v1/entities",'
            'status="201"} 1.0') in text
    assert ('civictwin_http_requests_total{method="GET",route="/ngsi-ld/v1/entities/'
            '{entity_id}",status="404"} 1.0') in text
    assert 'civictwin_http_request_duration_seconds_bucket{le="+Inf",method="POST"' in text
    assert 'civictwin_entity_writes_total{kind="created"}' in text
    assert 'civictwin_notification_outbox{state="pending"}' in text
    assert "civictwin_ingest_dead_letters " in text


def test_json_request_logs_carry_the_request_but_never_secrets(client: TestClient,
                                                               tenant: str) -> None:
    out = io.StringIO()
    handler = configure_logging("json", stream=out)
    try:
        response = client.get("/ngsi-ld/v1/entities?type=Sensor&access_token=tok-in-query",
                              headers={"X-API-Key": "key-in-header"})
        assert response.status_code == 200
        logging.getLogger("civictwin.test").warning("forwarding Authorization: Bearer tok-msg "
                                                    "api_key=key-msg")
    finally:
        logging.getLogger().removeHandler(handler)
    logged = out.getvalue()
    api_key = client.headers["Authorization"].removeprefix("Bearer ")  # the operator's
    for secret in ("tok-in-query", api_key, "key-in-header", "tok-msg", "key-msg"):
        assert secret not in logged
    lines = [json.loads(line) for line in logged.splitlines()]
    access = [line for line in lines if line["logger"] == "civictwin.access"]
    assert access[-1] | {"duration_ms": 0, "time": ""} == {
        "time": "", "level": "info", "logger": "civictwin.access",
        "message": access[-1]["message"], "method": "GET", "route": "/ngsi-ld/v1/entities",
        "status": 200, "duration_ms": 0, "tenant": tenant, "client": "testclient"}
    assert "[redacted]" in lines[-1]["message"]


def test_scrub_hides_credentials_in_any_shape() -> None:
    text = scrub('Authorization: Basic dXNlcjpwYXNz {"api_key": "abc"} token=xyz&x=1')
    assert "dXNlcjpwYXNz" not in text and "abc" not in text and "xyz" not in text
    assert "x=1" in text

"""Bounded query cost: regex complexity limits and statement timeouts on both stores."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.errors import BadRequestData
from civictwin.ngsild.qlang import check_regex, parse_q, regex_problem
from civictwin.store import Store
from civictwin.store.guard import set_statement_timeout
from tests.conftest import operator_key
from tests.servers import loopback_settings

CATASTROPHIC = "^(a|aa)+$"  # no nesting, so it passes the static check; exponential on "a"*n+"!"
VICTIM = "a" * 48 + "!"


@pytest.fixture
def limited(store: Store, tenant: str) -> Iterator[TestClient]:
    """An operator's client of a twin whose statements may run one second."""
    app = create_app(loopback_settings(auth_required=True, statement_timeout_seconds=1.0),
                     store=store)
    headers = {"NGSILD-Tenant": tenant, "Authorization": f"Bearer {operator_key(store)}"}
    try:
        with TestClient(app, headers=headers) as client:
            batch = [{"id": f"urn:ngsi-ld:Sensor:r{n}", "type": "Sensor",
                      "label": {"type": "Property", "value": VICTIM}} for n in range(3)]
            assert client.post("/ngsi-ld/v1/entityOperations/upsert",
                               json=batch).status_code == 201
            yield client
    finally:
        set_statement_timeout(store, None)  # the session's PostgreSQL store is shared


@pytest.mark.parametrize("pattern", ["^(a+)+$", "(x*y?)*z", "((ab)*c)+", "a*" * 11])
def test_nested_or_many_repetitions_are_refused_before_running(limited: TestClient,
                                                               pattern: str) -> None:
    answer = limited.get("/ngsi-ld/v1/entities", params={"type": "Sensor",
                                                         "q": f'label~="{pattern}"'})
    assert answer.status_code == 400, answer.text
    assert "repetition" in answer.json()["detail"]
    answer = limited.get("/ngsi-ld/v1/entities", params={"idPattern": pattern})
    assert answer.status_code == 400 and "idPattern" in answer.json()["detail"]


def test_ordinary_patterns_still_match(limited: TestClient) -> None:
    answer = limited.get("/ngsi-ld/v1/entities",
                         params={"type": "Sensor", "q": 'label~="^a+!$"', "count": "true"})
    assert answer.status_code == 200 and answer.headers["NGSILD-Results-Count"] == "3"
    assert regex_problem("^[A-Z]+-[0-9]+-.*$") is None
    assert check_regex("urn:ngsi-ld:Sensor:.*", "idPattern") == "urn:ngsi-ld:Sensor:.*"


def test_a_catastrophic_regex_ends_with_a_precise_error_within_the_timeout(
        limited: TestClient, store: Store) -> None:
    if store.dialect == "postgresql":
        pytest.skip("PostgreSQL's regex engine answers this pattern in linear time; "
                    "its statement_timeout is tested with an endless query below")
    started = time.monotonic()
    answer = limited.get("/ngsi-ld/v1/entities",
                         params={"type": "Sensor", "q": f'label~="{CATASTROPHIC}"'})
    took = time.monotonic() - started
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["type"].endswith("/TooComplexQuery")
    assert "statement_timeout_seconds" in body["detail"]
    assert took < 10, f"the query ran {took:.1f} s"
    again = limited.get("/ngsi-ld/v1/entities", params={"type": "Sensor", "count": "true"})
    assert again.status_code == 200 and again.headers["NGSILD-Results-Count"] == "3"


def test_a_statement_past_the_timeout_is_cancelled_on_both_stores(limited: TestClient,
                                                                  store: Store) -> None:
    from sqlalchemy import text

    from civictwin.errors import QueryTimeout

    endless = ("WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
               "SELECT count(*) FROM r")
    engine = store.engine  # type: ignore[attr-defined]
    started = time.monotonic()
    with pytest.raises(QueryTimeout), engine.connect() as conn:
        conn.execute(text(endless)).all()
    assert time.monotonic() - started < 10
    with engine.connect() as conn:  # the connection is usable afterwards
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_the_parser_names_the_problem() -> None:
    with pytest.raises(BadRequestData, match="repetition inside a repetition"):
        parse_q('name~="(a+)+"', lambda n: n)

"""Upgrading a database made at an older schema version keeps its data, on both stores."""

from __future__ import annotations

from sqlalchemy import delete, inspect, select

from civictwin.store import open_store
from civictwin.store.base import Entity
from civictwin.store.migrations import MIGRATIONS
from civictwin.store.schema import schema_version
from tests.ops.conftest import NewDatabase

NEWEST = MIGRATIONS[-1][0]
SENSOR = "https://civictwin.org/ns/Sensor"
NOISE = "https://civictwin.org/ns/noise"


def _sensor(n: int) -> Entity:
    return Entity(id=f"urn:ngsi-ld:Sensor:{n}", types=[SENSOR],
                  attrs={NOISE: [{"type": "Property", "value": 50 + n}]})


def _versions(url: str) -> set[int]:
    store = open_store(url, migrate=False)
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        found = {int(v) for v in conn.execute(select(schema_version.c.version)).scalars()}
    store.close()
    return found


def test_upgrade_from_version_one_keeps_entities(new_database: NewDatabase) -> None:
    url = new_database()
    old = open_store(url, migrate=False)
    assert old.migrate(upto=1) == 1
    old.upsert_entities("city", [_sensor(n) for n in range(5)])
    assert "notification_outbox" not in inspect(old.engine).get_table_names()  # type: ignore[attr-defined]
    old.close()
    store = open_store(url)
    assert _versions(url) == {v for v, _ in MIGRATIONS}
    names = inspect(store.engine).get_table_names()  # type: ignore[attr-defined]
    assert {"notification_outbox", "ingest_dead_letters", "csource_registrations"} <= set(names)
    got = store.get_entity("city", "urn:ngsi-ld:Sensor:3")
    assert got is not None and got.attrs[NOISE][0]["value"] == 53
    store.close()


def test_a_missing_lower_version_is_applied_after_a_higher_one(new_database: NewDatabase) -> None:
    url = new_database()
    store = open_store(url, migrate=False)
    store.migrate(upto=2)
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        # As if step NEWEST had been merged and run before steps 3.. arrived.
        conn.execute(schema_version.insert().values(version=NEWEST, applied_at="x"))
    assert store.migrate() == NEWEST
    assert _versions(url) == {v for v, _ in MIGRATIONS}
    assert "notification_outbox" in inspect(store.engine).get_table_names()  # type: ignore[attr-defined]
    store.close()


def test_a_legacy_lone_version_row_means_all_below_applied(new_database: NewDatabase) -> None:
    url = new_database()
    store = open_store(url, migrate=False)
    store.migrate(upto=3)
    store.upsert_entities("city", [_sensor(1)])
    with store.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(delete(schema_version).where(schema_version.c.version < 3))
    assert store.migrate() == NEWEST
    assert store.migrate() == NEWEST  # idempotent: nothing re-run
    assert _versions(url) == {v for v, _ in MIGRATIONS}
    assert store.get_entity("city", "urn:ngsi-ld:Sensor:1") is not None
    store.close()


def test_upgrade_from_the_previous_version_adds_the_trust_tables(new_database: NewDatabase) -> None:
    import time

    from civictwin.store.outbox import NotificationStore
    from civictwin.store.replay import first_use

    previous = max(v for v, _ in MIGRATIONS if v < 15)
    url = new_database()
    old = open_store(url, migrate=False)
    old.migrate(upto=previous)
    old.upsert_entities("city", [_sensor(7)])
    assert "token_replays" not in inspect(old.engine).get_table_names()  # type: ignore[attr-defined]
    old.close()
    store = open_store(url)
    assert 15 in _versions(url)
    engine = store.engine  # type: ignore[attr-defined]
    assert {"token_replays", "notification_claims"} <= set(inspect(engine).get_table_names())
    now = time.time()
    assert first_use(engine, "urn:x", "j1", now + 60, now)
    assert not first_use(engine, "urn:x", "j1", now + 60, now)
    assert NotificationStore(store).claim_holders() == []
    assert store.get_entity("city", "urn:ngsi-ld:Sensor:7") is not None
    store.close()

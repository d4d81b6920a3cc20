"""The Store contract: the same tests on SQLite and on PostgreSQL/PostGIS."""

from __future__ import annotations

from typing import Any

import pytest

from civictwin.errors import AlreadyExists, ResourceNotFound
from civictwin.ngsild.entities import build_entity
from civictwin.ngsild.geo import GeoQuery
from civictwin.ngsild.jsonld import ContextResolver
from civictwin.ngsild.qlang import parse_q, parse_type_selection
from civictwin.store import Entity, EntityQuery, Store
from civictwin.store.base import StoredContext

CTX = ContextResolver(lambda url: None).core
V = "https://uri.etsi.org/ngsi-ld/default-context/"


def building(n: int, *, floors: int = 3, lon: float = 4.35, lat: float = 50.85,
             use: str = "residential", etype: str = "Building") -> Entity:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Building:{n:04d}", "type": etype,
        "floorsAboveGround": {"type": "Property", "value": floors},
        "category": {"type": "Property", "value": [use, "city"]},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }
    return build_entity(body, CTX, f"2026-01-01T00:00:{n % 60:02d}Z")


def ids(store: Store, tenant: str, **query: Any) -> list[str]:
    return [e.id for e in store.query_entities(tenant, EntityQuery(limit=1000, **query)).entities]


def test_create_then_get_returns_the_same_entity(store: Store, tenant: str) -> None:
    entity = building(1)
    outcome = store.create_entities(tenant, [entity])
    assert outcome.success == [entity.id] and not outcome.errors
    found = store.get_entity(tenant, entity.id)
    assert found is not None
    assert found.attrs == entity.attrs and found.types == [V + "Building"]


def test_create_twice_fails_with_already_exists(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1)])
    outcome = store.create_entities(tenant, [building(1), building(2)])
    assert outcome.success == ["urn:ngsi-ld:Building:0002"]
    assert isinstance(outcome.errors["urn:ngsi-ld:Building:0001"], AlreadyExists)


def test_upsert_replaces_and_keeps_created_at(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1, floors=2)])
    newer = building(1, floors=9)
    newer.created_at = "2030-01-01T00:00:00Z"
    outcome = store.upsert_entities(tenant, [newer, building(2)])
    assert outcome.created == ["urn:ngsi-ld:Building:0002"]
    found = store.get_entity(tenant, "urn:ngsi-ld:Building:0001")
    assert found is not None and found.created_at == "2026-01-01T00:00:01Z"
    assert found.attrs[V + "floorsAboveGround"][0]["value"] == 9
    assert ids(store, tenant, q=parse_q("floorsAboveGround==9", CTX.expand)) == [newer.id]
    assert ids(store, tenant, q=parse_q("floorsAboveGround==2", CTX.expand)) == []


def test_change_applies_and_reindexes(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1), building(2)])

    def raise_floors(entity: Entity) -> Entity:
        entity.attrs[V + "floorsAboveGround"][0]["value"] = 12
        return entity

    outcome = store.change_entities(tenant, ["urn:ngsi-ld:Building:0001", "urn:x:missing"],
                                    raise_floors)
    assert outcome.success == ["urn:ngsi-ld:Building:0001"]
    assert isinstance(outcome.errors["urn:x:missing"], ResourceNotFound)
    assert ids(store, tenant, q=parse_q("floorsAboveGround>10", CTX.expand)) == [
        "urn:ngsi-ld:Building:0001"]


def test_a_failing_change_leaves_the_entity_alone(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1)])

    def refuse(entity: Entity) -> Entity:
        raise ResourceNotFound("no")

    outcome = store.change_entities(tenant, ["urn:ngsi-ld:Building:0001"], refuse)
    assert outcome.success == []
    assert store.get_entity(tenant, "urn:ngsi-ld:Building:0001") is not None


def test_delete_removes_entity_and_index(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1), building(2)])
    outcome = store.delete_entities(tenant, ["urn:ngsi-ld:Building:0001", "urn:x:none"])
    assert outcome.success == ["urn:ngsi-ld:Building:0001"]
    assert isinstance(outcome.errors["urn:x:none"], ResourceNotFound)
    assert ids(store, tenant, attrs=(V + "floorsAboveGround",)) == ["urn:ngsi-ld:Building:0002"]
    assert store.type_counts(tenant) == {V + "Building": 1}


def test_query_filters_combine(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(n, floors=n, use="office" if n % 2 else "residential")
                                   for n in range(1, 11)])
    store.create_entities(tenant, [building(99, etype="Shop")])
    types = parse_type_selection("Building", CTX.expand)
    assert len(ids(store, tenant, types=types)) == 10
    q = parse_q('floorsAboveGround>=4;category=="office"', CTX.expand)
    assert ids(store, tenant, types=types, q=q) == [
        f"urn:ngsi-ld:Building:{n:04d}" for n in (5, 7, 9)]
    assert ids(store, tenant, id_pattern=".*:000[12]$") == [
        "urn:ngsi-ld:Building:0001", "urn:ngsi-ld:Building:0002"]
    either = parse_type_selection("Building|Shop", CTX.expand)
    assert len(ids(store, tenant, types=either)) == 11


def test_pages_are_ordered_by_id_and_counted(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(n) for n in range(30, 0, -1)])
    result = store.query_entities(tenant, EntityQuery(limit=5, offset=10, count=True))
    assert result.count == 30
    assert [e.id for e in result.entities] == [
        f"urn:ngsi-ld:Building:{n:04d}" for n in range(11, 16)]
    empty = store.query_entities(tenant, EntityQuery(limit=0, count=True))
    assert empty.count == 30 and empty.entities == []


def test_geo_near_within_and_disjoint(store: Store, tenant: str) -> None:
    # 0.001 degree of latitude is about 111 m.
    store.create_entities(tenant, [building(n, lat=50.85 + n * 0.001) for n in range(10)])
    centre = {"type": "Point", "coordinates": [4.35, 50.85]}
    near = GeoQuery("near", centre, max_distance=350.0)
    assert ids(store, tenant, geo=near) == [f"urn:ngsi-ld:Building:{n:04d}" for n in range(4)]
    box = {"type": "Polygon", "coordinates": [[[4.34, 50.8535], [4.36, 50.8535], [4.36, 50.8565],
                                                 [4.34, 50.8565], [4.34, 50.8535]]]}
    assert ids(store, tenant, geo=GeoQuery("within", box)) == [
        f"urn:ngsi-ld:Building:{n:04d}" for n in (4, 5, 6)]
    assert len(ids(store, tenant, geo=GeoQuery("disjoint", box))) == 7
    far = GeoQuery("near", centre, min_distance=800.0)
    assert ids(store, tenant, geo=far) == ["urn:ngsi-ld:Building:0008",
                                           "urn:ngsi-ld:Building:0009"]


def test_tenants_do_not_see_each_other(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1)])
    other = tenant + "x"
    assert store.get_entity(other, "urn:ngsi-ld:Building:0001") is None
    assert store.query_entities(other, EntityQuery(count=True)).count == 0
    assert store.type_counts(other) == {} and store.attribute_summary(other) == {}
    assert isinstance(store.delete_entities(other, ["urn:ngsi-ld:Building:0001"])
                      .errors["urn:ngsi-ld:Building:0001"], ResourceNotFound)


def test_attribute_summary_counts_entities_types_and_kinds(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1), building(2), building(3, etype="Shop")])
    summary = store.attribute_summary(tenant)
    assert summary[V + "floorsAboveGround"]["count"] == 3
    assert summary[V + "floorsAboveGround"]["types"] == {V + "Building", V + "Shop"}
    assert summary["https://uri.etsi.org/ngsi-ld/location"]["kinds"] == {"GeoProperty"}


def test_contexts_round_trip(store: Store) -> None:
    row = StoredContext("abc123" + store.dialect, "http://x/" + store.dialect, "Hosted",
                        {"@context": {"a": "http://a/"}}, "2026-01-01T00:00:00Z")
    store.put_context(row)
    assert store.get_context(row.url) == row and store.get_context(row.id) == row
    assert row in store.list_contexts("Hosted")
    assert store.delete_context(row.id) and store.get_context(row.url) is None


def test_migrate_is_idempotent(store: Store) -> None:
    assert store.migrate() == store.migrate() >= 1


@pytest.mark.parametrize("value", [True, "text", 1.5, {"nested": {"deep": 1}}])
def test_values_of_every_json_type_round_trip(store: Store, tenant: str, value: Any) -> None:
    body = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing", "p": {"type": "Property", "value": value}}
    store.create_entities(tenant, [build_entity(body, CTX, "2026-01-01T00:00:00Z")])
    found = store.get_entity(tenant, "urn:ngsi-ld:Thing:1")
    assert found is not None and found.attrs[V + "p"][0]["value"] == value


def test_listeners_see_every_write_inside_the_transaction(store: Store, tenant: str) -> None:
    seen: list[tuple[str | None, str | None]] = []

    def record(conn: Any, where: str, writes: list[Any]) -> None:
        if where == tenant:
            seen.extend((w.before and w.before.id, w.after and w.after.id) for w in writes)

    store.add_listener(record)
    try:
        store.create_entities(tenant, [building(1)])
        store.upsert_entities(tenant, [building(1), building(2)])
        store.change_entities(tenant, ["urn:ngsi-ld:Building:0002"], lambda e: e)
        store.delete_entities(tenant, ["urn:ngsi-ld:Building:0001"])
    finally:
        store.listeners.remove(record)  # type: ignore[attr-defined]
    b1, b2 = "urn:ngsi-ld:Building:0001", "urn:ngsi-ld:Building:0002"
    assert seen == [(None, b1), (b1, b1), (None, b2), (b2, b2), (b1, None)]


def test_a_failing_listener_rolls_the_write_back(store: Store, tenant: str) -> None:
    def refuse(conn: Any, where: str, writes: list[Any]) -> None:
        if where == tenant:
            raise RuntimeError("derived rows could not be written")

    store.add_listener(refuse)
    try:
        with pytest.raises(RuntimeError):
            store.create_entities(tenant, [building(1)])
    finally:
        store.listeners.remove(refuse)  # type: ignore[attr-defined]
    assert store.get_entity(tenant, "urn:ngsi-ld:Building:0001") is None


def test_rows_without_a_json_value_hold_sql_null(store: Store, tenant: str) -> None:
    from sqlalchemy import func, select

    from civictwin.store.schema import attribute_values as av

    store.create_entities(tenant, [building(1)])
    with store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(func.count()).where(
            av.c.tenant == tenant, av.c.json.is_not(None))).scalar()
    assert rows == 0


def test_concurrent_writers_get_keys_of_their_own(store: Store, tenant: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def write(worker: int) -> list[str]:
        batch = [building(worker * 100 + n, floors=worker, lon=4.0 + worker / 10, lat=50.0)
                 for n in range(25)]
        return store.upsert_entities(tenant, batch).success

    with ThreadPoolExecutor(4) as pool:
        written = [i for done in pool.map(write, range(1, 5)) for i in done]
    assert len(written) == 100
    for worker in range(1, 5):
        by_floors = ids(store, tenant, q=parse_q(f"floorsAboveGround=={worker}", CTX.expand))
        near = ids(store, tenant, geo=GeoQuery(
            "near", {"type": "Point", "coordinates": [4.0 + worker / 10, 50.0]},
            max_distance=10))
        expected = [f"urn:ngsi-ld:Building:{worker * 100 + n:04d}" for n in range(25)]
        assert by_floors == near == expected


def test_rewriting_many_entities_reindexes_each(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(n, floors=1) for n in range(1, 41)])
    store.upsert_entities(tenant, [building(n, floors=n, lon=5.0) for n in range(1, 41)])
    for n in (1, 17, 40):
        found = store.get_entity(tenant, f"urn:ngsi-ld:Building:{n:04d}")
        assert found is not None and found.attrs[V + "floorsAboveGround"][0]["value"] == n
    assert ids(store, tenant, q=parse_q("floorsAboveGround==1", CTX.expand)) == [
        "urn:ngsi-ld:Building:0001"]
    within = GeoQuery("within", {"type": "Polygon", "coordinates": [
        [[4.9, 50.8], [5.1, 50.8], [5.1, 50.9], [4.9, 50.9], [4.9, 50.8]]]})
    assert len(ids(store, tenant, geo=within)) == 40


def test_a_key_freed_by_a_delete_indexes_only_its_new_entity(store: Store, tenant: str) -> None:
    store.create_entities(tenant, [building(1, floors=1), building(2, floors=2)])
    store.delete_entities(tenant, ["urn:ngsi-ld:Building:0002"])
    store.create_entities(tenant, [building(3, floors=3, use="office")])
    assert ids(store, tenant, q=parse_q("floorsAboveGround==2", CTX.expand)) == []
    assert ids(store, tenant, q=parse_q('category=="office"', CTX.expand)) == [
        "urn:ngsi-ld:Building:0003"]
    assert store.type_counts(tenant) == {V + "Building": 2}

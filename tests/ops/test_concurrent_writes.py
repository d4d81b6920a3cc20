"""Concurrent writers of the same entities: no errors, no duplicated index rows, both stores."""

from __future__ import annotations

import threading

from civictwin.store import Store
from civictwin.store.base import Entity, EntityQuery
from civictwin.store.ops import index_mismatches

NOISE = "https://civictwin.org/ns/noise"


def _batch(writer: int, round_: int) -> list[Entity]:
    return [Entity(id=f"urn:ngsi-ld:Sensor:{n}", types=["https://civictwin.org/ns/Sensor"],
                   attrs={NOISE: [{"type": "Property", "value": writer * 100 + round_}]})
            for n in range(40)]


def test_concurrent_upserts_of_the_same_new_ids(store: Store, tenant: str) -> None:
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for round_ in range(5):
                outcome = store.upsert_entities(tenant, _batch(writer, round_))
                assert not outcome.errors
                store.change_entities(tenant, ["urn:ngsi-ld:Sensor:1"], lambda e: e)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert index_mismatches(store.engine, tenant) == []  # type: ignore[attr-defined]
    assert len(store.query_entities(tenant, EntityQuery(limit=100)).entities) == 40

"""Batched writes keep every record in history, not only the last one per entity."""

from __future__ import annotations

from civictwin.ingest.writer import EntityBatch
from civictwin.ngsild.temporal import TemporalQuery
from civictwin.store import Store
from civictwin.twin import open_twin
from tests.servers import loopback_settings


def test_records_merged_in_a_batch_all_reach_history(store: Store, tenant: str) -> None:
    twin = open_twin(loopback_settings(), store)
    ctx = twin.broker.context(None)
    batch: EntityBatch[int] = EntityBatch(twin.broker, tenant, ctx)
    for n in range(4):
        batch.add({"id": "urn:ngsi-ld:Meter:1", "type": "Meter",
                   "energy": {"type": "Property", "value": float(n),
                              "observedAt": f"2026-01-01T00:0{n}:00Z"}}, n)
    result = batch.flush()
    assert result.accepted == [0, 1, 2, 3] and not result.rejected
    current = twin.broker.retrieve_entity(tenant, "urn:ngsi-ld:Meter:1")
    assert current.attrs[ctx.expand("energy")][0]["value"] == 3.0
    history = twin.temporal.retrieve(tenant, "urn:ngsi-ld:Meter:1",
                                     TemporalQuery(representation="temporalValues"), ctx)
    assert history["energy"]["values"] == [[0.0, "2026-01-01T00:00:00Z"],
                                           [1.0, "2026-01-01T00:01:00Z"],
                                           [2.0, "2026-01-01T00:02:00Z"],
                                           [3.0, "2026-01-01T00:03:00Z"]]

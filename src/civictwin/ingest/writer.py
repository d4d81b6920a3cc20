"""Write mapped records to the twin in batches through the ContextBroker.

Records for the same entity within one batch are merged in arrival order before the write:
appending attributes with overwrite replaces each attribute whole, so the merged body leaves
the entity exactly as writing the records one by one would, in one row lock instead of many.
The attribute values a later record of the batch overwrites are not lost: they go to the
entity's history in the same transaction (through `pending_instances`), as they would have had
the records been written one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from civictwin.errors import CivicTwinError
from civictwin.ngsild.attributes import expand_instance, now_iso
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import Context
from civictwin.store.temporal import instance_row, pending_instances

NOT_ATTRIBUTES = {"id", "type", "@context", "scope"}

T = TypeVar("T")


@dataclass
class FlushResult(Generic[T]):
    """What one batch write did with the records it was given (tags as given)."""

    accepted: list[T] = field(default_factory=list)
    rejected: list[tuple[T, str]] = field(default_factory=list)


class EntityBatch(Generic[T]):
    """Entity bodies waiting to be written, each record tagged (a row number, a message id)."""

    def __init__(self, broker: ContextBroker, tenant: str, ctx: Context) -> None:
        self.broker = broker
        self.tenant = tenant
        self.ctx = ctx
        self.bodies: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, list[T]] = {}
        self.superseded: list[tuple[str, str, Any]] = []

    def __len__(self) -> int:
        return sum(len(t) for t in self.tags.values())

    def add(self, body: dict[str, Any], tag: T) -> None:
        """Queue one record's entity body."""
        entity_id = body["id"]
        if entity_id in self.bodies:
            held = self.bodies[entity_id]
            self.superseded += [(entity_id, k, held[k]) for k in body
                                if k in held and k not in NOT_ATTRIBUTES]
            held.update(body)
            self.tags[entity_id].append(tag)
        else:
            self.bodies[entity_id] = dict(body)
            self.tags[entity_id] = [tag]

    def flush(self) -> FlushResult[T]:
        """Write the queued bodies (create or append attributes) and empty the batch."""
        result: FlushResult[T] = FlushResult()
        if not self.bodies:
            return result
        token = pending_instances().set(self._history())
        try:
            outcome = self.broker.batch_upsert(self.tenant, list(self.bodies.values()),
                                               self.ctx, replace=False)
        finally:
            pending_instances().reset(token)
        failed = {entity_id: error.detail for entity_id, error in outcome.errors}
        for entity_id, tags in self.tags.items():
            if entity_id in failed:
                result.rejected += [(t, f"entity {entity_id}: {failed[entity_id]}") for t in tags]
            else:
                result.accepted += tags
        self.bodies.clear()
        self.tags.clear()
        self.superseded.clear()
        return result

    def _history(self) -> list[dict[str, Any]]:
        """Return the history rows of the values later records of the batch overwrite."""
        now = now_iso()
        rows: list[dict[str, Any]] = []
        for entity_id, name, raw in self.superseded:
            for item in raw if isinstance(raw, list) else [raw]:
                try:
                    inst = expand_instance(name, item, self.ctx, now)
                except CivicTwinError:
                    continue  # the broker refuses it too, and says why
                rows.append(instance_row(self.tenant, entity_id, self.ctx.expand(name), inst,
                                         now))
        return rows

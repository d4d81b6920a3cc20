"""Live entity changes for the map, as server-sent events.

A store write listener notes, inside the writing transaction, each change to an entity of a
map layer's types; when that transaction commits (SQLAlchemy's `commit` connection event) the
changes are published, and a rollback drops them, so the page never sees a change the twin did
not keep. Each tenant keeps its last `REPLAY` events with increasing ids, so a page that
reconnects with `Last-Event-ID` gets what it missed. Streams end by themselves after
`STREAM_SECONDS` (the page reconnects at once and resumes by `Last-Event-ID`), so no connection
is held open forever by a client that vanished without closing it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, event

from civictwin.ngsild.jsonld import Context
from civictwin.store import Store
from civictwin.store.base import Entity, EntityWrite

PENDING = "civictwin.web.pending"
REPLAY = 500
QUEUE_SIZE = 1000
STREAM_SECONDS = 30.0
KEEPALIVE_SECONDS = 10.0


@dataclass(frozen=True)
class Change:
    """One committed change to an entity, as the page reads it."""

    seq: int
    tenant: str
    data: dict[str, Any]

    def frame(self) -> str:
        """Return the change as one SSE frame."""
        return f"id: {self.seq}\nevent: entity\ndata: {json.dumps(self.data)}\n\n"


@dataclass
class _Listener:
    tenant: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Change | None]
    overflowed: bool = field(default=False)


class ChangeFeed:
    """Committed entity changes of the watched types, fanned out to page connections."""

    def __init__(self, store: Store, ctx: Context, types: Iterable[str]) -> None:
        self.ctx = ctx
        self.types = {ctx.expand(t): t for t in types}
        self._key = f"{PENDING}.{id(self)}"  # one engine may serve several feeds
        self._lock = threading.Lock()
        self._seq = 0
        self._recent: dict[str, deque[Change]] = {}
        self._listeners: list[_Listener] = []
        self._hooks: list[Callable[[str, dict[str, Any]], None]] = []
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("the change feed needs a SQL store (SQLite or PostgreSQL)")
        store.add_listener(self._noted)
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._rolled_back)

    # -- inside the writing transaction ----------------------------------------------------
    def _noted(self, conn: Any, tenant: str, writes: list[EntityWrite]) -> None:
        changes = [c for w in writes if (c := self._describe(w)) is not None]
        if changes:
            conn.info.setdefault(self._key, []).extend((tenant, c) for c in changes)

    def _committed(self, conn: Connection) -> None:
        pending = conn.info.pop(self._key, None)
        if pending:
            for tenant, data in pending:
                self.publish(tenant, data)

    def _rolled_back(self, conn: Connection) -> None:
        conn.info.pop(self._key, None)

    def _describe(self, write: EntityWrite) -> dict[str, Any] | None:
        entity = write.after or write.before
        assert entity is not None
        short = next((self.types[t] for t in entity.types if t in self.types), None)
        if short is None:
            return None
        data: dict[str, Any] = {"id": entity.id, "type": short, "deleted": write.after is None}
        if write.after is not None:
            data.update(self._values(write.after))
        return data

    def _values(self, entity: Entity) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        observed: list[str] = []
        location = None
        for iri, instances in entity.attrs.items():
            inst = next((i for i in instances if not i.get("datasetId")), instances[0])
            value = inst.get("value", inst.get("object"))
            if inst.get("type") == "GeoProperty":
                if isinstance(value, dict) and value.get("type") == "Point":
                    location = value.get("coordinates")
                continue
            if isinstance(value, (int, float, str, bool)):
                attrs[self.ctx.compact(iri)] = value
                stamp = inst.get("observedAt")
                if isinstance(stamp, str):
                    observed.append(stamp)
                elif isinstance(stamp, dict) and isinstance(stamp.get("@value"), str):
                    observed.append(stamp["@value"])
        return {"attrs": attrs, "observedAt": max(observed) if observed else None,
                "modifiedAt": entity.modified_at, "location": location}

    # -- after commit ------------------------------------------------------------------
    def on_publish(self, hook: Callable[[str, dict[str, Any]], None]) -> None:
        """Call `hook(tenant, change)` for every committed change, before pages hear of it."""
        self._hooks.append(hook)

    def publish(self, tenant: str, data: dict[str, Any]) -> Change:
        """Send a committed change to every page of the tenant and keep it for replay."""
        for hook in self._hooks:
            hook(tenant, data)
        with self._lock:
            self._seq += 1
            change = Change(self._seq, tenant, data)
            self._recent.setdefault(tenant, deque(maxlen=REPLAY)).append(change)
            listeners = [li for li in self._listeners if li.tenant == tenant]
        for listener in listeners:
            listener.loop.call_soon_threadsafe(_offer, listener, change)
        return change

    async def stream(self, tenant: str, last_id: int | None,
                     seconds: float = STREAM_SECONDS) -> AsyncIterator[str]:
        """Yield SSE frames for the tenant's changes (after `last_id`) for `seconds`."""
        loop = asyncio.get_running_loop()
        listener = _Listener(tenant, loop, asyncio.Queue(QUEUE_SIZE))
        with self._lock:
            self._listeners.append(listener)
            missed = [c for c in self._recent.get(tenant, ()) if
                      last_id is not None and c.seq > last_id]
        try:
            yield f"retry: 1000\nevent: ready\ndata: {json.dumps({'seq': self._seq})}\n\n"
            for old in missed:
                yield old.frame()
            deadline = loop.time() + seconds
            while (left := deadline - loop.time()) > 0:
                try:
                    change: Change | None = await asyncio.wait_for(listener.queue.get(),
                                                    min(left, KEEPALIVE_SECONDS))
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if change is None:
                    yield "event: resync\ndata: {}\n\n"
                    return
                yield change.frame()
        finally:
            with self._lock:
                self._listeners.remove(listener)


def _offer(listener: _Listener, change: Change) -> None:
    """Queue a change for one page; a page that falls behind is told to resync."""
    if listener.overflowed:
        return
    try:
        listener.queue.put_nowait(change)
    except asyncio.QueueFull:
        listener.overflowed = True
        _drop_one(listener.queue)
        listener.queue.put_nowait(None)


def _drop_one(queue: asyncio.Queue[Change | None]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        queue.get_nowait()

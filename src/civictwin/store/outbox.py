"""Subscriptions and the durable notification outbox, in SQL shared by both stores.

Outbox rows are claimed with a lease: claiming pushes `due_at` a lease ahead, so a notifier
that dies mid-delivery leaves the row due again once the lease runs out, and two notifiers on
one database never send the same row twice at once. Each claim also names the notifier
instance holding it (`notification_claims`), so a notifier that starts after a crash can
release the dead instance's claims at once instead of waiting out their lease.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from civictwin.errors import AlreadyExists
from civictwin.store.base import Store
from civictwin.store.schema import notification_claims, notification_outbox, subscriptions


@dataclass
class SubscriptionRow:
    """A stored subscription: the user's document, its @context and its delivery status."""

    tenant: str
    id: str
    doc: dict[str, Any]
    context: Any
    is_active: bool = True
    expires_at: str | None = None
    time_interval: float | None = None
    next_periodic: str | None = None
    last_queued: str | None = None
    times_sent: int = 0
    times_failed: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    created_at: str = ""
    modified_at: str = ""


@dataclass(frozen=True)
class OutboxRow:
    """One notification waiting for delivery: where to, and the entities it carries."""

    pk: int
    tenant: str
    subscription_id: str
    endpoint: dict[str, Any]
    data: list[dict[str, Any]]
    attempts: int
    created_at: str

    @property
    def trigger_reason(self) -> str | None:
        """Return the notificationTrigger that caused this notification (None if periodic)."""
        reason = self.endpoint.get("triggerReason")
        return reason if isinstance(reason, str) else None


@dataclass(frozen=True)
class Notice:
    """A notification to enqueue."""

    tenant: str
    subscription_id: str
    endpoint: dict[str, Any]
    data: list[dict[str, Any]]
    reason: str | None = None


class NotificationStore:
    """Subscription rows and outbox rows over a SQL store's engine."""

    def __init__(self, store: Store) -> None:
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            raise TypeError("subscriptions need a SQL store (SQLite or PostgreSQL)")
        self.engine = engine

    def _write(self) -> Connection:
        # `write` makes SQLite take its write lock at BEGIN (see SqliteStore); others ignore it.
        return self.engine.connect().execution_options(write=True)

    # -- subscriptions -------------------------------------------------------------------
    def insert(self, row: SubscriptionRow) -> None:
        """Store a new subscription; AlreadyExists if its id is taken in the tenant."""
        try:
            with self._write() as conn, conn.begin():
                if self._get(conn, row.tenant, row.id) is not None:
                    raise AlreadyExists(f"subscription {row.id} exists already")
                conn.execute(insert(subscriptions).values(**_columns(row)))
        except IntegrityError as exc:
            raise AlreadyExists(f"subscription {row.id} exists already") from exc

    def get(self, tenant: str, subscription_id: str) -> SubscriptionRow | None:
        """Return one subscription, or None."""
        with self.engine.connect() as conn:
            return self._get(conn, tenant, subscription_id)

    def _get(self, conn: Connection, tenant: str, subscription_id: str) -> SubscriptionRow | None:
        stmt = select(subscriptions).where(subscriptions.c.tenant == tenant,
                                           subscriptions.c.id == subscription_id)
        found = conn.execute(stmt).first()
        return _subscription(found) if found is not None else None

    def page(self, tenant: str, limit: int, offset: int) -> tuple[list[SubscriptionRow], int]:
        """Return a page of a tenant's subscriptions, ordered by id, and their total number."""
        where = subscriptions.c.tenant == tenant
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(subscriptions).where(where))
            stmt = (select(subscriptions).where(where).order_by(subscriptions.c.id)
                    .limit(limit).offset(offset))
            rows = [_subscription(r) for r in conn.execute(stmt)]
        return rows, int(total.scalar() or 0)

    def replace(self, row: SubscriptionRow) -> bool:
        """Replace a subscription's document and settings (not its counters)."""
        values = {k: v for k, v in _columns(row).items() if k in _SETTINGS}
        with self._write() as conn, conn.begin():
            done = conn.execute(update(subscriptions).where(
                subscriptions.c.tenant == row.tenant, subscriptions.c.id == row.id)
                .values(**values))
            return bool(done.rowcount)

    def delete(self, tenant: str, subscription_id: str) -> bool:
        """Delete a subscription and its undelivered notifications; return whether it existed."""
        with self._write() as conn, conn.begin():
            ob = notification_outbox.c
            conn.execute(delete(notification_outbox).where(
                ob.tenant == tenant, ob.subscription_id == subscription_id, ob.state == "pending"))
            gone = conn.execute(delete(subscriptions).where(
                subscriptions.c.tenant == tenant, subscriptions.c.id == subscription_id))
            return bool(gone.rowcount)

    def watching(self, conn: Connection, tenant: str, now: str) -> list[SubscriptionRow]:
        """Return the tenant's active, unexpired, change-driven subscriptions (in `conn`)."""
        c = subscriptions.c
        stmt = select(subscriptions).where(
            c.tenant == tenant, c.is_active.is_(True), c.time_interval.is_(None),
            or_(c.expires_at.is_(None), c.expires_at > now))
        return [_subscription(r) for r in conn.execute(stmt)]

    def periodic_due(self, now: str) -> list[SubscriptionRow]:
        """Return active timeInterval subscriptions whose next notification is due."""
        c = subscriptions.c
        stmt = select(subscriptions).where(
            c.is_active.is_(True), c.time_interval.is_not(None), c.next_periodic <= now,
            or_(c.expires_at.is_(None), c.expires_at > now))
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(stmt)]

    def advance_periodic(self, row: SubscriptionRow, now: datetime,
                         notice: Notice | None) -> bool:
        """Move a periodic subscription to its next slot and enqueue `notice`, once."""
        assert row.time_interval is not None
        following = stamp(now + timedelta(seconds=row.time_interval))
        c = subscriptions.c
        with self._write() as conn, conn.begin():
            moved = conn.execute(update(subscriptions).where(
                c.tenant == row.tenant, c.id == row.id, c.next_periodic == row.next_periodic)
                .values(next_periodic=following))
            if not moved.rowcount:
                return False
            if notice is not None:
                self.enqueue(conn, [notice], stamp(now))
        return True

    # -- outbox --------------------------------------------------------------------------
    def enqueue(self, conn: Connection, notices: Sequence[Notice], now: str) -> None:
        """Add notifications to the outbox within `conn`'s transaction, due now."""
        if not notices:
            return
        conn.execute(insert(notification_outbox), [
            {"tenant": n.tenant, "subscription_id": n.subscription_id,
             "endpoint": json.dumps(_with_reason(n)), "data": json.dumps(n.data),
             "created_at": now, "due_at": now, "attempts": 0, "state": "pending"}
            for n in notices])
        c = subscriptions.c
        for notice in notices:
            conn.execute(update(subscriptions).where(
                c.tenant == notice.tenant, c.id == notice.subscription_id)
                .values(last_queued=now))

    def claim(self, now: datetime, lease: float, limit: int = 50,
              instance: str = "") -> list[OutboxRow]:
        """Take up to `limit` due notifications for `instance`, leasing each for `lease` s."""
        ob = notification_outbox.c
        stmt = (select(notification_outbox).where(ob.state == "pending", ob.due_at <= stamp(now))
                .order_by(ob.due_at, ob.pk).limit(limit))
        with self.engine.connect() as conn:
            if not conn.execute(stmt.with_only_columns(ob.pk)).first():
                return []  # spare SQLite a write lock on every idle poll
        until = stamp(now + timedelta(seconds=lease))
        claimed: list[OutboxRow] = []
        with self._write() as conn, conn.begin():
            for found in conn.execute(stmt).all():
                taken = conn.execute(update(notification_outbox).where(
                    ob.pk == found.pk, ob.due_at == found.due_at, ob.state == "pending")
                    .values(due_at=until, attempts=found.attempts + 1))
                if taken.rowcount:
                    self._hold(conn, found.pk, instance)
                    claimed.append(OutboxRow(
                        found.pk, found.tenant, found.subscription_id,
                        json.loads(found.endpoint), json.loads(found.data),
                        found.attempts + 1, found.created_at))
        return claimed

    def _hold(self, conn: Connection, pk: int, instance: str) -> None:
        cl = notification_claims.c
        conn.execute(delete(notification_claims).where(cl.outbox_pk == pk))
        if instance:
            conn.execute(insert(notification_claims).values(outbox_pk=pk, instance=instance))

    def claim_holders(self) -> list[str]:
        """Return the notifier instances that hold claims on outbox rows."""
        stmt = select(notification_claims.c.instance).distinct()
        with self.engine.connect() as conn:
            return [str(i) for i in conn.execute(stmt).scalars()]

    def release(self, instances: Sequence[str], now: datetime) -> int:
        """Make the rows these (dead) instances claimed due now; return how many."""
        if not instances:
            return 0
        cl, ob = notification_claims.c, notification_outbox.c
        held = select(cl.outbox_pk).where(cl.instance.in_(list(instances)))
        with self._write() as conn, conn.begin():
            done = conn.execute(update(notification_outbox).where(
                ob.pk.in_(held), ob.state == "pending").values(due_at=stamp(now)))
            conn.execute(delete(notification_claims).where(cl.instance.in_(list(instances))))
        return int(done.rowcount or 0)

    def delivered(self, row: OutboxRow, now: str) -> None:
        """Mark a notification sent and count it on its subscription."""
        with self._write() as conn, conn.begin():
            conn.execute(delete(notification_claims).where(
                notification_claims.c.outbox_pk == row.pk))
            conn.execute(update(notification_outbox).where(notification_outbox.c.pk == row.pk)
                         .values(state="sent", sent_at=now, last_error=None))
            self._count(conn, row, now, success=True)

    def failed(self, row: OutboxRow, now: str, error: str, retry_at: str | None) -> None:
        """Record a failed delivery: due again at `retry_at`, or given up when None."""
        values: dict[str, Any] = {"last_error": error[:2000]}
        if retry_at is None:
            values["state"] = "failed"
        else:
            values["due_at"] = retry_at
        with self._write() as conn, conn.begin():
            conn.execute(update(notification_outbox).where(notification_outbox.c.pk == row.pk)
                         .values(**values))
            conn.execute(delete(notification_claims).where(
                notification_claims.c.outbox_pk == row.pk))
            self._count(conn, row, now, success=False)

    def _count(self, conn: Connection, row: OutboxRow, now: str, success: bool) -> None:
        c = subscriptions.c
        values: dict[str, Any] = {"times_sent": c.times_sent + 1, "last_notification": now}
        if success:
            values["last_success"] = now
        else:
            values["times_failed"] = c.times_failed + 1
            values["last_failure"] = now
        conn.execute(update(subscriptions).where(
            c.tenant == row.tenant, c.id == row.subscription_id).values(**values))

    def pending(self, tenant: str) -> int:
        """Return how many notifications of a tenant wait for delivery."""
        ob = notification_outbox.c
        stmt = select(func.count()).select_from(notification_outbox).where(
            ob.tenant == tenant, ob.state == "pending")
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)


def _with_reason(notice: Notice) -> dict[str, Any]:
    # The reason rides with the endpoint each row carries already: no extra column needed.
    if notice.reason is None:
        return notice.endpoint
    return {**notice.endpoint, "triggerReason": notice.reason}


_SETTINGS = ("doc", "context", "is_active", "expires_at", "time_interval", "next_periodic",
             "modified_at")


def _columns(row: SubscriptionRow) -> dict[str, Any]:
    return {"tenant": row.tenant, "id": row.id, "doc": json.dumps(row.doc),
            "context": json.dumps(row.context), "is_active": row.is_active,
            "expires_at": row.expires_at, "time_interval": row.time_interval,
            "next_periodic": row.next_periodic, "last_queued": row.last_queued,
            "times_sent": row.times_sent, "times_failed": row.times_failed,
            "last_notification": row.last_notification, "last_success": row.last_success,
            "last_failure": row.last_failure, "created_at": row.created_at,
            "modified_at": row.modified_at}


def _subscription(row: Any) -> SubscriptionRow:
    return SubscriptionRow(
        tenant=row.tenant, id=row.id, doc=json.loads(row.doc), context=json.loads(row.context),
        is_active=bool(row.is_active), expires_at=row.expires_at,
        time_interval=row.time_interval, next_periodic=row.next_periodic,
        last_queued=row.last_queued, times_sent=row.times_sent,
        times_failed=row.times_failed, last_notification=row.last_notification,
        last_success=row.last_success, last_failure=row.last_failure,
        created_at=row.created_at, modified_at=row.modified_at)


def stamp(moment: datetime) -> str:
    """Return a UTC moment in the sortable form every timestamp column uses."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    """Return the moment a stored timestamp stands for."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)

"""Subscriptions (ETSI GS CIM 009 5.2.12, 5.8): validation, CRUD and matching entity writes.

A subscription is kept as the user wrote it, with its @context; names are expanded when it is
compiled. Matching runs as a store write listener inside the writing transaction, under a
savepoint: the notifications of an acknowledged write are in the outbox, and a failure to
match never fails the write (it is logged and the savepoint rolled back).
"""

from __future__ import annotations

import logging
import re
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, select

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.ngsild.attributes import check_uri, normalize_datetime, now_iso
from civictwin.ngsild.geo import GeoQuery, matches, parse_geo_query
from civictwin.ngsild.jsonld import Context, ContextResolver
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.ngsild.params import FORMATS
from civictwin.ngsild.qlang import And, Node, Or, TypeName, check_regex, parse_q, parse_scope_q
from civictwin.ngsild.qlang import parse_type_selection as parse_types
from civictwin.ngsild.render import RenderOptions, render_entity
from civictwin.ngsild.subscriptions_triggers import (
    deletion_body,
    notified_entity,
    parse_triggers,
    trigger_reason,
)
from civictwin.store.base import Entity, EntityQuery, EntityWrite, Store
from civictwin.store.consent import visible_writes
from civictwin.store.outbox import Notice, NotificationStore, SubscriptionRow, parse_stamp, stamp
from civictwin.store.qsql import compile_q, compile_scope
from civictwin.store.schema import entities

log = logging.getLogger(__name__)

SCHEMES = ("http", "https", "mqtt", "mqtts")
ACCEPTS = ("application/json", "application/ld+json")
STATUS_FIELDS = ("status", "timesSent", "timesFailed", "lastNotification", "lastSuccess",
                 "lastFailure")
MAX_PERIODIC_ENTITIES = 1000


@dataclass(frozen=True)
class Selector:
    """One EntitySelector: id, idPattern and a type selection, all optional, ANDed."""

    id: str | None
    pattern: re.Pattern[str] | None
    types: Node | None

    def selects(self, entity: Entity) -> bool:
        """Return whether the entity is one this selector names."""
        if self.id is not None and entity.id != self.id:
            return False
        if self.pattern is not None and not self.pattern.search(entity.id):
            return False
        return self.types is None or _has_types(self.types, entity.types)


@dataclass(frozen=True)
class Subscription:
    """A subscription compiled for matching: names expanded, q and geoQ parsed."""

    row: SubscriptionRow
    context: Context
    selectors: tuple[Selector, ...]
    watched: frozenset[str] | None
    q: Node | None
    scope_q: Node | None
    geo: GeoQuery | None
    render: RenderOptions
    endpoint: dict[str, Any]
    throttling: float | None
    triggers: frozenset[str]
    show_changes: bool

    def reason(self, write: EntityWrite) -> str | None:
        """Return the notificationTrigger a write fires, if it is an entity this selects."""
        entity = write.after or write.before
        if entity is None:
            return None
        if self.selectors and not any(s.selects(entity) for s in self.selectors):
            return None
        return trigger_reason(write, self.triggers, self.watched)

    def located(self, entity: Entity) -> bool:
        """Return whether the entity satisfies the geoQ (true when there is none)."""
        if self.geo is None:
            return True
        return any(i.get("type") == "GeoProperty" and matches(self.geo, i["value"])
                   for i in entity.attrs.get(self.geo.geoproperty, []))

    def notice(self, entities_: Sequence[Entity], reason: str | None = None) -> Notice:
        """Return the notification carrying these entities, rendered for the subscriber."""
        data = [render_entity(e, self.context, self.render) for e in entities_]
        return Notice(self.row.tenant, self.row.id, self.endpoint, data, reason)

    def change_notice(self, writes: Sequence[EntityWrite], reason: str, now: str) -> Notice:
        """Return the notification of writes that fired `reason`."""
        if reason == "entityDeleted":
            data = [deletion_body(w.before, now, self.context) for w in writes
                    if w.before is not None]
            return Notice(self.row.tenant, self.row.id, self.endpoint, data, reason)
        shown = [notified_entity(w, reason, self.show_changes, now, self.context)
                 for w in writes]
        return self.notice(shown, reason)

    def queries(self) -> list[EntityQuery]:
        """Return the entity queries whose union is what the subscription currently selects."""
        base = EntityQuery(q=self.q, scope_q=self.scope_q, geo=self.geo,
                           limit=MAX_PERIODIC_ENTITIES)
        if not self.selectors:
            return [base]
        return [replace(base, ids=(s.id,) if s.id else (),
                        id_pattern=s.pattern.pattern if s.pattern else None, types=s.types)
                for s in self.selectors]


class Subscriptions:
    """Create, read, update and delete subscriptions; match entity writes against them."""

    def __init__(self, store: Store, contexts: ContextResolver,
                 policy: OutboundPolicy | None = None) -> None:
        self.store = store
        self.records = NotificationStore(store)
        self.contexts = contexts
        self.policy = policy or OutboundPolicy()
        self._compiled: dict[tuple[str, str], tuple[str, Subscription]] = {}
        _install(store, self)

    # -- CRUD ----------------------------------------------------------------------------
    def create(self, tenant: str, body: Any, raw_context: Any) -> SubscriptionRow:
        """Create a subscription from a request body (5.8.1)."""
        now = now_iso()
        row = self._validated(tenant, _object(body), raw_context, now, now)
        if row.expires_at is not None and row.expires_at <= now:
            raise BadRequestData("expiresAt: the subscription would be expired already")
        self.records.insert(row)
        return row

    def retrieve(self, tenant: str, subscription_id: str) -> SubscriptionRow:
        """Return one subscription or raise ResourceNotFound (5.8.3)."""
        row = self.records.get(tenant, check_uri(subscription_id, "subscription id"))
        if row is None:
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        return row

    def page(self, tenant: str, limit: int, offset: int) -> tuple[list[SubscriptionRow], int]:
        """Return a page of subscriptions and the total (5.8.4)."""
        return self.records.page(tenant, limit, offset)

    def update(self, tenant: str, subscription_id: str, patch: Any, raw_context: Any) -> None:
        """Replace the members a fragment names, then re-validate the whole (5.8.2)."""
        current = self.retrieve(tenant, subscription_id)
        fragment = {k: v for k, v in _object(patch).items() if k != "@context"}
        if "id" in fragment and fragment["id"] != current.id:
            raise BadRequestData("a subscription's id cannot be changed")
        doc = {k: v for k, v in {**current.doc, **fragment}.items() if v is not None}
        if isinstance(fragment.get("notification"), dict):
            doc["notification"] = {**current.doc.get("notification", {}),
                                   **fragment["notification"]}
        context = raw_context if raw_context is not None else current.context
        row = self._validated(tenant, doc, context, current.created_at, now_iso(),
                              _endpoint_uri(current.doc))
        if row.time_interval == current.time_interval and current.next_periodic:
            row.next_periodic = current.next_periodic
        self.records.replace(row)

    def delete(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription (5.8.5)."""
        if not self.records.delete(tenant, check_uri(subscription_id, "subscription id")):
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")

    def _validated(self, tenant: str, body: dict[str, Any], raw_context: Any,
                   created: str, modified: str, old_uri: str | None = None) -> SubscriptionRow:
        doc = {k: v for k, v in body.items() if k != "@context" and k not in STATUS_FIELDS}
        if doc.get("type") != "Subscription":
            raise BadRequestData("a subscription needs type 'Subscription'")
        doc["id"] = check_uri(doc.get("id") or f"urn:ngsi-ld:Subscription:{uuid.uuid4()}",
                              "subscription id")
        if "expiresAt" in doc:
            doc["expiresAt"] = normalize_datetime(doc["expiresAt"], "expiresAt")
        notification = doc.get("notification")
        if isinstance(notification, dict):
            doc["notification"] = {k: v for k, v in notification.items()
                                   if k not in STATUS_FIELDS}
        is_active = doc.get("isActive", True)
        if not isinstance(is_active, bool):
            raise BadRequestData("isActive must be true or false")
        row = SubscriptionRow(tenant=tenant, id=doc["id"], doc=doc, context=raw_context,
                              is_active=is_active, created_at=created, modified_at=modified)
        sub = compile_subscription(row, self.contexts.resolve(raw_context))
        if sub.endpoint["uri"] != old_uri:  # a kept endpoint is checked at delivery
            self.policy.admit(sub.endpoint["uri"], "notification.endpoint.uri")
        if "expiresAt" in doc:
            row.expires_at = stamp(datetime.fromisoformat(doc["expiresAt"]))
        row.time_interval = _positive(doc, "timeInterval")
        if row.time_interval is not None:
            row.next_periodic = modified
        return row

    # -- matching ------------------------------------------------------------------------
    def compiled(self, row: SubscriptionRow) -> Subscription:
        """Return the subscription compiled (cached until it is modified)."""
        key = (row.tenant, row.id)
        cached = self._compiled.get(key)
        if cached is not None and cached[0] == row.modified_at:
            return cached[1]
        sub = compile_subscription(row, self.contexts.resolve(row.context))
        self._compiled[key] = (row.modified_at, sub)
        return sub

    def match(self, conn: Connection, tenant: str, writes: list[EntityWrite]) -> None:
        """Queue the notifications a batch of writes causes (a store write listener)."""
        try:
            with conn.begin_nested():
                self._match(conn, tenant, writes)
        except Exception:
            log.exception("matching subscriptions of tenant %r failed; the write stands", tenant)

    def _match(self, conn: Connection, tenant: str, writes: list[EntityWrite]) -> None:
        now = datetime.now(UTC)
        rows = self.records.watching(conn, tenant, stamp(now))
        if rows:  # entities withheld by a withdrawn or expired consent do not notify
            writes = visible_writes(conn, tenant, writes)
        notices: list[Notice] = []
        for row in rows:
            sub = self.compiled(row)
            if sub.throttling and row.last_queued and \
                    parse_stamp(row.last_queued) + timedelta(seconds=sub.throttling) > now:
                continue
            reasons = {id(w): r for w in writes if (r := sub.reason(w)) is not None}
            fired: dict[str, list[EntityWrite]] = {}
            for write in _selected(conn, tenant, sub, [w for w in writes if id(w) in reasons]):
                fired.setdefault(reasons[id(write)], []).append(write)
            notices += [sub.change_notice(hits, reason, stamp(now))
                        for reason, hits in fired.items()]
        self.records.enqueue(conn, notices, stamp(now))

    def enqueue_periodic(self, now: datetime) -> int:
        """Queue the due notifications of timeInterval subscriptions; return how many."""
        queued = 0
        for row in self.records.periodic_due(stamp(now)):
            try:
                sub = self.compiled(row)
                found: dict[str, Entity] = {}
                for query in sub.queries():
                    found.update({e.id: e for e in
                                  self.store.query_entities(row.tenant, query).entities})
                notice = sub.notice(list(found.values())) if found else None
                if self.records.advance_periodic(row, now, notice) and notice is not None:
                    queued += 1
            except Exception:
                log.exception("periodic notification of subscription %s failed", row.id)
        return queued


_MATCHERS: weakref.WeakKeyDictionary[Any, Subscriptions] = weakref.WeakKeyDictionary()


def _install(store: Store, subscriptions: Subscriptions) -> None:
    """Make `subscriptions` the one write listener of `store` that matches subscriptions."""
    if store not in _MATCHERS:
        store.add_listener(lambda conn, tenant, writes: _MATCHERS[store].match(
            conn, tenant, writes))
    _MATCHERS[store] = subscriptions


def compile_subscription(row: SubscriptionRow, ctx: Context) -> Subscription:
    """Validate a subscription document and compile it; raise BadRequestData if invalid."""
    doc = row.doc
    selectors = tuple(_selector(s, ctx) for s in _list(doc, "entities"))
    watched_names = _list(doc, "watchedAttributes")
    if not selectors and not watched_names:
        raise BadRequestData("a subscription needs entities or watchedAttributes")
    if "timeInterval" in doc and (watched_names or "throttling" in doc):
        raise BadRequestData("timeInterval excludes watchedAttributes and throttling")
    geo_q = doc.get("geoQ")
    if geo_q is not None and not isinstance(geo_q, dict):
        raise BadRequestData("geoQ must be an object")
    geo = parse_geo_query(geo_q.get("georel"), geo_q.get("geometry"), geo_q.get("coordinates"),
                          geo_q.get("geoproperty"), ctx.expand) if geo_q else None
    if geo_q and geo is None:
        raise BadRequestData("geoQ needs georel, geometry and coordinates")
    notification = doc.get("notification")
    if not isinstance(notification, dict):
        raise BadRequestData("a subscription needs a notification object")
    return Subscription(
        row=row, context=ctx, selectors=selectors,
        watched=frozenset(ctx.expand(_name(n)) for n in watched_names) or None,
        q=parse_q(_text(doc, "q"), ctx.expand) if "q" in doc else None,
        scope_q=parse_scope_q(_text(doc, "scopeQ")) if "scopeQ" in doc else None,
        geo=geo, render=_render_options(notification, doc, ctx),
        endpoint=_endpoint(notification, row.context),
        throttling=_positive(doc, "throttling"), triggers=parse_triggers(doc),
        show_changes=_show_changes(doc, notification))


def _show_changes(doc: dict[str, Any], notification: dict[str, Any]) -> bool:
    show = doc.get("showChanges", False)
    if not isinstance(show, bool):
        raise BadRequestData("showChanges must be true or false")
    if show and FORMATS.get(notification.get("format", "normalized")) == "keyValues":
        raise BadRequestData("showChanges cannot be used with notification.format keyValues")
    return show


def _selector(raw: Any, ctx: Context) -> Selector:
    if not isinstance(raw, dict) or not ({"id", "idPattern", "type"} & raw.keys()):
        raise BadRequestData("an EntitySelector is an object with id, idPattern or type")
    pattern = None
    if "idPattern" in raw:
        pattern = re.compile(check_regex(_text(raw, "idPattern"), "idPattern"))
    return Selector(id=check_uri(raw["id"], "entities.id") if "id" in raw else None,
                    pattern=pattern,
                    types=parse_types(_text(raw, "type"), ctx.expand) if "type" in raw else None)


def _render_options(notification: dict[str, Any], doc: dict[str, Any],
                    ctx: Context) -> RenderOptions:
    fmt = notification.get("format", "normalized")
    if fmt not in FORMATS:
        raise BadRequestData(f"notification.format {fmt!r} is not one of "
                             "normalized, concise, keyValues, simplified")
    names = _list(notification, "attributes")
    sys_attrs = notification.get("sysAttrs", False)
    if not isinstance(sys_attrs, bool):
        raise BadRequestData("notification.sysAttrs must be true or false")
    lang = doc.get("lang")
    return RenderOptions(format=FORMATS[fmt], sys_attrs=sys_attrs,
                         attrs=frozenset(ctx.expand(_name(n)) for n in names) or None,
                         lang=lang if isinstance(lang, str) else None)


def _endpoint(notification: dict[str, Any], raw_context: Any) -> dict[str, Any]:
    endpoint = notification.get("endpoint")
    if not isinstance(endpoint, dict):
        raise BadRequestData("notification.endpoint must be an object with a uri")
    uri = check_uri(endpoint.get("uri"), "notification.endpoint.uri")
    parts = urlsplit(uri)
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise BadRequestData(f"notification.endpoint.uri {uri!r}: expected an http, https, "
                             "mqtt or mqtts URL with a host")
    if parts.scheme.startswith("mqtt") and not parts.path.strip("/"):
        raise BadRequestData(f"notification.endpoint.uri {uri!r}: an MQTT URL needs a topic")
    accept = endpoint.get("accept", "application/json")
    if accept not in ACCEPTS:
        raise BadRequestData(f"notification.endpoint.accept {accept!r} is not one of "
                             + ", ".join(ACCEPTS))
    extras: dict[str, dict[str, str]] = {}
    for key in ("receiverInfo", "notifierInfo"):
        items = endpoint.get(key, [])
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("key"), str)
                and isinstance(i.get("value"), str) for i in items):
            raise BadRequestData(f"notification.endpoint.{key}: a list of {{key, value}}")
        extras[key] = {i["key"]: i["value"] for i in items}
    return {"uri": uri, "accept": accept, "context": raw_context, **extras}


def _selected(conn: Connection, tenant: str, sub: Subscription,
              writes: list[EntityWrite]) -> list[EntityWrite]:
    """Keep the writes whose entity satisfies geoQ, q and scopeQ (before it, if deleted)."""
    kept = [w for w in writes if (e := w.after or w.before) is not None and sub.located(e)]
    if not kept or (sub.q is None and sub.scope_q is None):
        return kept
    # A deleted entity's index rows are gone: q and scopeQ cannot judge it, so it passes.
    alive = _filter_in_sql(conn, tenant, sub, [w.after for w in kept if w.after is not None])
    ids = {e.id for e in alive}
    return [w for w in kept if w.after is None or w.after.id in ids]


def _filter_in_sql(conn: Connection, tenant: str, sub: Subscription,
                   hits: list[Entity]) -> list[Entity]:
    """Keep the entities q and scopeQ select, asking the index rows this write just made."""
    where = [entities.c.tenant == tenant, entities.c.id.in_([e.id for e in hits])]
    if sub.q is not None:
        where.append(compile_q(sub.q, entities.c.pk))
    if sub.scope_q is not None:
        where.append(compile_scope(sub.scope_q, entities.c.pk))
    kept = set(conn.execute(select(entities.c.id).where(*where)).scalars())
    return [e for e in hits if e.id in kept]


def _has_types(node: Node, types: list[str]) -> bool:
    if isinstance(node, TypeName):
        return node.iri in types
    if isinstance(node, And):
        return all(_has_types(i, types) for i in node.items)
    if isinstance(node, Or):
        return any(_has_types(i, types) for i in node.items)
    raise BadRequestData(f"not a type selection: {node!r}")


def status_of(row: SubscriptionRow, now: str | None = None) -> str:
    """Return the subscription's status: active, paused or expired."""
    if row.expires_at is not None and row.expires_at <= (now or now_iso()):
        return "expired"
    return "active" if row.is_active else "paused"


def _endpoint_uri(doc: dict[str, Any]) -> str | None:
    uri = doc.get("notification", {}).get("endpoint", {}).get("uri")
    return uri if isinstance(uri, str) else None


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("the request body must be a JSON object")
    return body


def _list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list) or (key in doc and not value):
        raise BadRequestData(f"{key} must be a non-empty array")
    return value


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"{key} must be a non-empty string")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequestData(f"attribute name {value!r} is not a non-empty string")
    return value


def _positive(doc: dict[str, Any], key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise BadRequestData(f"{key} must be a positive number of seconds")
    return float(value)

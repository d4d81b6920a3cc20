"""Distributed queries (ETSI GS CIM 009 4.3.6): ask registered context sources, merge answers.

A query or retrieval that matches registrations is forwarded, with `local=true` and a `Via`
header naming this broker, to every matching source; a source that sees its own name in `Via`
(or too many hops) answers from local data only, so mutual registrations terminate. Entities
from all sources are merged by id and sorted by id before `offset`/`limit` apply, so paging and
NGSILD-Results-Count describe the merged set; that is why a federated query reads up to
MAX_MERGED matching entities from each source. A source that fails adds an NGSILD-Warning and
is otherwise left out: the answer never fails because another broker did.
"""

from __future__ import annotations

import json
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request

from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    OperationNotSupported,
    ResourceNotFound,
    TooManyResults,
)
from civictwin.ngsild.attributes import now_iso
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.entities import build_entity
from civictwin.ngsild.http import Call
from civictwin.ngsild.jsonld import Context, link_header
from civictwin.ngsild.outbound import OutboundPolicy
from civictwin.ngsild.params import split
from civictwin.ngsild.registrations import Registration, Registrations
from civictwin.store.base import Entity, EntityQuery, QueryResult

MAX_MERGED = 10_000
MAX_HOPS = 4
REMOTE_PAGE = 1000
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
WARNING = "NGSILD-Warning"
FORWARDED = ("id", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates",
             "geoproperty")
_names: weakref.WeakKeyDictionary[ContextBroker, str] = weakref.WeakKeyDictionary()


class SourceFailed(Exception):
    """A context source could not be asked or gave an answer that is not usable."""


@dataclass(frozen=True)
class Hop:
    """What an incoming request tells the sources it is forwarded to."""

    tenant: str
    context: Context
    context_url: str | None
    via: tuple[str, ...]
    local: bool


def hop(request: Request, call: Call) -> Hop:
    """Return the forwarding facts of an incoming request."""
    via = tuple(v.strip() for v in request.headers.get("Via", "").split(",") if v.strip())
    local = request.query_params.get("local", "false").lower() == "true"
    url = call.raw_context if isinstance(call.raw_context, str) else None
    return Hop(call.tenant, call.context, url, via, local)


def broker_name(ngsi: ContextBroker) -> str:
    """Return the name this broker gives itself in Via headers."""
    if ngsi not in _names:
        _names[ngsi] = f"civictwin-{uuid.uuid4().hex[:16]}"
    return _names[ngsi]


def _sources(ngsi: ContextBroker, hop: Hop, types: set[str] | None, attrs: set[str],
             ids: tuple[str, ...] = ()) -> list[Registration]:
    me = broker_name(ngsi)
    if hop.local or len(hop.via) >= MAX_HOPS or any(v.endswith(" " + me) for v in hop.via):
        return []
    try:
        registrations = Registrations.of(ngsi.store)
    except OperationNotSupported:
        return []
    now = now_iso()
    found = registrations.matching(hop.tenant, types, attrs, ids)
    return [r for r in found if r.answers_queries(now)]


def _types(raw: Any, ctx: Context) -> set[str] | None:
    if not raw or not isinstance(raw, str):
        return None
    return {ctx.expand(t) for t in re.split(r"[,;|()]", raw) if t.strip()}


def _attrs(raw: Any, ctx: Context) -> set[str]:
    return {ctx.expand(a) for a in split(raw)} if isinstance(raw, str) else set()


# -- query -------------------------------------------------------------------------------
def query(ngsi: ContextBroker, hop: Hop, params: Mapping[str, Any],
          entity_query: EntityQuery) -> tuple[QueryResult, dict[str, str]]:
    """Answer GET /entities from local data and every matching context source."""
    ctx = hop.context
    sources = _sources(ngsi, hop, _types(params.get("type"), ctx),
                       _attrs(params.get("attrs"), ctx), entity_query.ids)
    if not sources:
        return ngsi.query(hop.tenant, entity_query), {}
    if entity_query.limit > ngsi.settings.max_limit:
        raise BadRequestData(f"limit {entity_query.limit} is above the maximum of "
                             f"{ngsi.settings.max_limit}")
    want = MAX_MERGED + 1 if entity_query.count else entity_query.offset + entity_query.limit
    if want > MAX_MERGED + 1:
        raise TooManyResults(f"a distributed query pages over at most {MAX_MERGED} entities")
    # Redirect and exclusive sources drop local entities, so the local page must be complete.
    dropping = any(r.mode in ("redirect", "exclusive") for r in sources)
    local = ngsi.store.query_entities(hop.tenant, replace(
        entity_query, limit=MAX_MERGED + 1 if dropping else want, offset=0,
        count=False)).entities
    forward = _forward_params(params, ctx)
    policy = _policy(ngsi)
    merged, warnings = _gather(
        ngsi, hop, sources, local,
        lambda reg, client: _fetch_query(client, reg, hop, forward, want, policy))
    if len(local) > MAX_MERGED or (entity_query.count and len(merged) > MAX_MERGED):
        raise TooManyResults(f"more than {MAX_MERGED} entities match across context sources; "
                             "narrow the query")
    ordered = sorted(merged.values(), key=lambda e: e.id)
    page = ordered[entity_query.offset: entity_query.offset + entity_query.limit]
    return QueryResult(page, len(ordered) if entity_query.count else None), warnings


def _forward_params(params: Mapping[str, Any], ctx: Context) -> dict[str, str]:
    out = {k: v if isinstance(v, str) else json.dumps(v)
           for k, v in params.items() if k in FORWARDED and v not in (None, "")}
    # Type and attribute names go out expanded: the source need not know our @context.
    if isinstance(params.get("type"), str) and params["type"]:
        out["type"] = re.sub(r"[^,;|()]+", lambda m: ctx.expand(m.group(0).strip()),
                             params["type"])
    if params.get("attrs"):
        out["attrs"] = ",".join(sorted(_attrs(params["attrs"], ctx)))
    return out


Fetch = Callable[[Registration, httpx.Client], list[Entity]]


def _gather(ngsi: ContextBroker, hop: Hop, sources: list[Registration], local: list[Entity],
            fetch: Fetch) -> tuple[dict[str, Entity], dict[str, str]]:
    local = _apply_modes(local, sources)
    merged = {e.id: e for e in local}
    failures: list[str] = []
    main = [r for r in sources if r.mode != "auxiliary"]
    auxiliary = [r for r in sources if r.mode == "auxiliary"]
    with httpx.Client(timeout=TIMEOUT, trust_env=False,
                      headers=_headers(ngsi, hop)) as client:
        for group in (main, auxiliary):
            if group is auxiliary and merged:
                break
            for registration, found in _ask_all(client, group, fetch):
                if isinstance(found, str):
                    failures.append(_warning(registration, found))
                    continue
                for entity in filter(None, (_registered_part(e, registration) for e in found)):
                    held = merged.get(entity.id)
                    merged[entity.id] = entity if held is None else merge_entities(held, entity)
    return merged, ({WARNING: ", ".join(failures)} if failures else {})


def _ask_all(client: httpx.Client, sources: list[Registration],
             fetch: Fetch) -> Iterable[tuple[Registration, list[Entity] | str]]:
    def ask(registration: Registration) -> list[Entity] | str:
        try:
            return fetch(registration, client)
        except (httpx.HTTPError, SourceFailed, ValueError, CivicTwinError) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    if not sources:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(sources))) as pool:
        return list(zip(sources, pool.map(ask, sources), strict=True))


def _warning(registration: Registration, reason: str) -> str:
    text = f"context source {registration.id} at {registration.endpoint} failed: {reason}"
    return '199 civictwin "' + text.replace('"', "'").replace("\r", " ").replace("\n", " ") + '"'


def _headers(ngsi: ContextBroker, hop: Hop) -> dict[str, str]:
    headers = {"Accept": "application/json",
               "Via": ", ".join([*hop.via, f"1.1 {broker_name(ngsi)}"])}
    if hop.context_url is not None:
        headers["Link"] = link_header(hop.context_url)
    return headers


def _source_headers(registration: Registration) -> dict[str, str]:
    headers = dict(registration.context_source_info)
    if registration.tenant:
        headers["NGSILD-Tenant"] = registration.tenant
    return headers


def _policy(ngsi: ContextBroker) -> OutboundPolicy:
    return OutboundPolicy.of(ngsi.settings.notification_allowlist)


def _get(client: httpx.Client, policy: OutboundPolicy, url: str, params: dict[str, str],
         headers: dict[str, str]) -> httpx.Response:
    """GET a context source at the address the policy checked (refused: EndpointRefused)."""
    pinned = policy.pin(url, "context source endpoint")
    return client.get(pinned.url, params=params, headers={**headers, **pinned.headers},
                      extensions=pinned.extensions)


def _fetch_query(client: httpx.Client, registration: Registration, hop: Hop,
                 forward: dict[str, str], want: int, policy: OutboundPolicy) -> list[Entity]:
    got: list[Entity] = []
    offset = 0
    while len(got) < want:
        page = min(REMOTE_PAGE, want - len(got))
        params = {**forward, "limit": str(page), "offset": str(offset),
                  "options": "sysAttrs", "local": "true"}
        response = _get(client, policy, f"{registration.endpoint}/ngsi-ld/v1/entities",
                        params, _source_headers(registration))
        if response.status_code != 200:
            raise SourceFailed(f"HTTP {response.status_code}")
        items = response.json()
        if not isinstance(items, list):
            raise SourceFailed("the answer is not a JSON array")
        got += [_entity(item, hop.context) for item in items]
        if len(items) < page:
            break
        offset += len(items)
    return got


# -- retrieve ----------------------------------------------------------------------------
def retrieve(ngsi: ContextBroker, hop: Hop, entity_id: str,
             params: Mapping[str, str]) -> tuple[Entity, dict[str, str]]:
    """Answer GET /entities/{id} from local data and every matching context source."""
    try:
        local: Entity | None = ngsi.retrieve_entity(hop.tenant, entity_id)
    except ResourceNotFound:
        local = None
    types = set(local.types) if local is not None else _types(params.get("type"), hop.context)
    sources = _sources(ngsi, hop, types, _attrs(params.get("attrs"), hop.context), (entity_id,))
    if not sources:
        if local is None:
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return local, {}
    forward = {k: v for k, v in _forward_params(params, hop.context).items()
               if k in ("type", "attrs")}
    policy = _policy(ngsi)

    def fetch(registration: Registration, client: httpx.Client) -> list[Entity]:
        response = _get(
            client, policy,
            f"{registration.endpoint}/ngsi-ld/v1/entities/{quote(entity_id, safe=':')}",
            {**forward, "options": "sysAttrs", "local": "true"},
            _source_headers(registration))
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise SourceFailed(f"HTTP {response.status_code}")
        return [_entity(response.json(), hop.context)]

    merged, warnings = _gather(ngsi, hop, sources, [local] if local else [], fetch)
    if entity_id not in merged:
        raise ResourceNotFound(f"entity {entity_id} does not exist")
    return merged[entity_id], warnings


# -- merging -----------------------------------------------------------------------------
def _apply_modes(local: list[Entity], sources: list[Registration]) -> list[Entity]:
    """Drop what redirect and exclusive registrations say only the source holds."""
    owners = [i for r in sources if r.mode in ("redirect", "exclusive") for i in r.information]
    if not owners:
        return local
    kept: list[Entity] = []
    for entity in local:
        covering = [i for i in owners if i.covers(entity)]
        if any(not i.names for i in covering):
            continue
        gone = frozenset().union(*(i.names for i in covering))
        kept.append(replace(entity, attrs={k: v for k, v in entity.attrs.items()
                                           if k not in gone}) if gone else entity)
    return kept


def _registered_part(entity: Entity, registration: Registration) -> Entity | None:
    """Keep only the entities and attributes the registration says the source holds."""
    covering = [i for i in registration.information if i.covers(entity)]
    if not covering:
        return None
    if any(not i.names for i in covering):
        return entity
    names = frozenset().union(*(i.names for i in covering))
    return replace(entity, attrs={k: v for k, v in entity.attrs.items() if k in names})


def merge_entities(first: Entity, second: Entity) -> Entity:
    """Merge two views of one entity: instances by datasetId, the most recent one wins."""
    attrs = {name: list(instances) for name, instances in first.attrs.items()}
    for name, instances in second.attrs.items():
        by_dataset = {i.get("datasetId"): i for i in attrs.get(name, [])}
        for instance in instances:
            key = instance.get("datasetId")
            held = by_dataset.get(key)
            if held is None or _recency(instance) > _recency(held):
                by_dataset[key] = instance
        attrs[name] = list(by_dataset.values())
    return Entity(
        id=first.id,
        types=[*first.types, *(t for t in second.types if t not in first.types)],
        attrs=attrs,
        scope=[*first.scope, *(s for s in second.scope if s not in first.scope)],
        created_at=min(first.created_at or second.created_at, second.created_at or
                       first.created_at),
        modified_at=max(first.modified_at, second.modified_at),
    )


def _recency(instance: dict[str, Any]) -> tuple[str, str]:
    return str(instance.get("observedAt", "")), str(instance.get("modifiedAt", ""))


def _entity(body: Any, ctx: Context) -> Entity:
    """Expand an entity a source sent (normalized, with sysAttrs) keeping its timestamps."""
    if not isinstance(body, dict):
        raise SourceFailed("an entity in the answer is not a JSON object")
    body = {k: v for k, v in body.items() if k != "@context"}
    now = now_iso()
    entity = build_entity(body, ctx, now)
    entity.created_at = _stamp(body.get("createdAt"), now)
    entity.modified_at = _stamp(body.get("modifiedAt"), now)
    for key, raw in body.items():
        instances = entity.attrs.get(ctx.expand(key))
        if instances is None:
            continue
        for instance, given in zip(instances, raw if isinstance(raw, list) else [raw],
                                   strict=False):
            if isinstance(given, dict):
                instance["createdAt"] = _stamp(given.get("createdAt"), now)
                instance["modifiedAt"] = _stamp(given.get("modifiedAt"), now)
    return entity


def _stamp(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default

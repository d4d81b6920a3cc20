"""Enforcement: what a consumer may read with a transfer's access token, decided per request.

A token opens data only while its transfer is STARTED, its agreement FINALIZED and in force,
and its consumer an active participant; then the agreement's ODRL policy decides this request
(purpose from the `CivicTwin-Purpose` header, place from the request's geo-query, time, prior
uses, raw or aggregated form). A request to /privacy/ is a disclosure-controlled release made
under the agreement's own rules (privacy/); NGSI-LD reads are raw, and a temporal
aggregation (`aggrMethods`) is an aggregate of one contributor, so a policy asking for
aggregates of a minimum size or for disclosure rules admits none of them. An allowed request is
confined to the dataset: its tenant is
forced, its type selection must name only the dataset's types (none given: all of them), an
entity retrieval outside those types is not found, and /types and /attributes are answered
here from the dataset's types alone. Reads only. Every decision goes to the audit log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode

import shapely.geometry
from shapely.geometry.base import BaseGeometry

from civictwin.config import Settings
from civictwin.dataspace.audit import AuditLog
from civictwin.dataspace.auth import TRANSFER_TOKEN_PREFIX, ASGIApp, Principal, Scope
from civictwin.dataspace.negotiation import FINALIZED, Negotiation, Negotiations
from civictwin.dataspace.odrl import (
    AccessRequest,
    Constraint,
    LogicalConstraint,
    Policy,
    evaluate,
    parse_policy,
    places_from_entities,
)
from civictwin.dataspace.participants import Participants, secret_matches
from civictwin.dataspace.states import PROVIDER
from civictwin.dataspace.transfer import STARTED, Transfer, Transfers
from civictwin.errors import BadRequestData, CivicTwinError, Forbidden, Unauthorized
from civictwin.ngsild.jsonld import CORE_CONTEXT_URL, link_header, parse_link_header
from civictwin.ngsild.qlang import And, Node, Or, TypeName, parse_type_selection
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore

PREFIX = "/ngsi-ld/v1"
PRIVACY = "/privacy"
PURPOSE_HEADER = b"civictwin-purpose"


@dataclass(frozen=True)
class Grant:
    """What a started transfer opens: a dataset's tenant and types, under an agreement."""

    transfer: Transfer
    agreement: Negotiation
    tenant: str
    types: frozenset[str]
    temporal: bool


def transfer_principal(store: Store, token: str) -> Principal:
    """Return the consumer a transfer's access token stands for; Unauthorized if none."""
    token_id, _, secret = token[len(TRANSFER_TOKEN_PREFIX):].partition(".")
    row = DataspaceStore(store).transfer_by_token(token_id)
    if row is None or row["role"] != PROVIDER or not row["token_hash"] \
            or not secret_matches(row["token_hash"], secret):
        raise Unauthorized("the transfer token is not valid", error="invalid_token")
    consumer = Participants(store).find(row["counterparty"])
    if consumer is None:
        raise Unauthorized("the transfer token's consumer is no longer a participant",
                           error="invalid_token")
    if not consumer.active:
        raise Forbidden(f"participant {consumer.id} is suspended")
    return Principal(consumer, row["pid"])


def admit_transfer(state: Any, scope: Scope, principal: Principal) -> ASGIApp | None:
    """Decide a request made with a transfer token; confine it to the dataset or refuse it."""
    store: Store = state.store
    settings: Settings = state.settings
    assert principal.participant is not None and principal.transfer_pid is not None
    actor = principal.participant.id
    grant = _grant(store, settings, principal.transfer_pid)
    try:
        _in_force(grant)
        policy = parse_policy(grant.agreement.agreement or {})
        answer: ASGIApp | None = None
        if scope["path"].startswith(PRIVACY + "/"):
            _aggregates(scope, grant)
            request = _aggregate_request(scope, grant, actor, policy)
        else:
            answer = _confine(state, scope, grant)
            request = _access_request(scope, grant, actor)
        decision = evaluate(policy, request, _places(store, grant.tenant, policy))
    except CivicTwinError as exc:
        _record(store, grant, actor, "access.denied", scope, {"reason": exc.detail})
        raise
    if not decision.allowed:
        _record(store, grant, actor, "access.denied", scope,
                {"rule": decision.rule, "reason": decision.reason})
        raise Forbidden(decision.reason, rule=decision.rule)
    DataspaceStore(store).count_use(grant.agreement.agreement_id or "")
    _record(store, grant, actor, "access.allowed", scope,
            {"rule": decision.rule, "duties": list(decision.duties)})
    return answer


def _grant(store: Store, settings: Settings, transfer_pid: str) -> Grant:
    from civictwin.dataspace.dsp_catalog import dataset_in

    transfer = Transfers(store, settings).get(transfer_pid)
    agreement = Negotiations(store, settings).agreement(transfer.agreement_id)
    dataset = dataset_in(store, settings, agreement.tenant, transfer.dataset_id).dataset
    return Grant(transfer, agreement, dataset.ngsi_tenant, frozenset(dataset.ngsi_types),
                 dataset.temporal)


def _in_force(grant: Grant) -> None:
    transfer, agreement = grant.transfer, grant.agreement
    if transfer.state != STARTED:
        raise Forbidden(f"transfer {transfer.pid} is {transfer.state}; data flows only while "
                        "it is STARTED")
    if agreement.state != FINALIZED or agreement.agreement_status != "active":
        raise Forbidden(f"agreement {agreement.agreement_id} is "
                        f"{agreement.agreement_status or agreement.state}; it grants no access")


def _access_request(scope: Scope, grant: Grant, actor: str) -> AccessRequest:
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    now = datetime.now(UTC)
    agreed = (grant.agreement.agreement or {}).get("timestamp")
    elapsed = now - _moment(agreed) if isinstance(agreed, str) else None
    temporal = scope["path"].startswith(f"{PREFIX}/temporal/")
    # aggrMethods aggregates one entity's series over time: a group of one contributor.
    form, size = ("aggregate", 1) if temporal and params.get("aggrMethods") else ("raw", None)
    return AccessRequest(at=now, action="use", assignee=actor, purpose=_purpose(scope),
                         location=_location(params), count=grant.agreement.uses,
                         elapsed=elapsed, form=form, group_size=size,
                         target=grant.transfer.dataset_id)


def _aggregate_request(scope: Scope, grant: Grant, actor: str, policy: Policy) -> AccessRequest:
    """Describe a disclosure-controlled release: aggregates under the policy's own rules."""
    from civictwin.privacy.rules import DisclosureRules

    rules = DisclosureRules.from_policy(policy)
    plain = _access_request(scope, grant, actor)
    return AccessRequest(at=plain.at, action="use", assignee=actor, purpose=plain.purpose,
                         count=plain.count, elapsed=plain.elapsed, form="aggregate",
                         group_size=rules.min_contributors, controlled=True,
                         target=plain.target)


def _aggregates(scope: Scope, grant: Grant) -> None:
    """Admit a privacy request: it must be an aggregate or ledger read over a meter dataset."""
    path, method = scope["path"], scope["method"]
    asks = path == f"{PRIVACY}/aggregates" and method == "POST"
    reads = path.startswith(f"{PRIVACY}/releases") and method in ("GET", "HEAD")
    if not (asks or reads):
        raise Forbidden("a transfer's token asks for aggregates (POST /privacy/aggregates) "
                        "and reads its releases (GET /privacy/releases)")
    if not any(t.endswith("/SmartMeteringObservation") for t in grant.types):
        raise Forbidden(f"dataset {grant.transfer.dataset_id} holds no meter data to aggregate")
    tenant = _header(scope, b"ngsild-tenant")
    if tenant is not None and tenant != grant.tenant:
        raise Forbidden(f"transfer {grant.transfer.pid} opens tenant "
                        f"{grant.tenant or '(default)'!r}, not {tenant!r}")
    _set_header(scope, b"ngsild-tenant", grant.tenant)
    scope.setdefault("state", {})["privacy_grant"] = {
        "agreement": grant.agreement.agreement_id, "consumer": grant.transfer.counterparty,
        "tenant": grant.tenant, "policy": grant.agreement.agreement or {},
        "dataset": grant.transfer.dataset_id}


def _places(store: Store, tenant: str, policy: Policy) -> dict[str, BaseGeometry]:
    """Return the areas a policy names by id (e.g. districts), from the provider's twin."""
    ids: set[str] = set()

    def walk(node: Constraint | LogicalConstraint) -> None:
        if isinstance(node, LogicalConstraint):
            for member in node.members:
                walk(member)
        elif node.left == "spatial":
            values = node.value if isinstance(node.value, tuple) else (node.value,)
            ids.update(v for v in values if isinstance(v, str))

    for rule in policy.rules():
        for condition in rule.conditions():
            walk(condition)
    found = [store.get_entity(tenant, i) for i in sorted(ids)]
    return places_from_entities(e for e in found if e is not None)


def _confine(state: Any, scope: Scope, grant: Grant) -> ASGIApp | None:
    """Rewrite the request so it sees only the dataset; return a direct answer where needed."""
    path: str = scope["path"]
    if scope["method"] not in ("GET", "HEAD"):
        raise Forbidden("a transfer's token reads data; it cannot change any")
    tenant = _header(scope, b"ngsild-tenant")
    if tenant is not None and tenant != grant.tenant:
        raise Forbidden(f"transfer {grant.transfer.pid} opens tenant "
                        f"{grant.tenant or '(default)'!r}, not {tenant!r}")
    _set_header(scope, b"ngsild-tenant", grant.tenant)
    rest = path[len(PREFIX):] if path.startswith(PREFIX + "/") else None
    if rest is not None and rest.startswith("/temporal/"):
        if not grant.temporal:
            raise Forbidden(f"dataset {grant.transfer.dataset_id} does not include history")
        rest = rest[len("/temporal"):]
        lookup = _temporal_types
    else:
        lookup = _current_types
    if rest == "/entities":
        _restrict_types(state, scope, grant)
        return None
    if rest is not None and rest.startswith("/entities/") and rest.count("/") == 2:
        entity_id = unquote(rest[len("/entities/"):])
        if not lookup(state.store, grant.tenant, entity_id) & grant.types:
            return _not_found(scope, f"entity {entity_id} is not in the dataset")
        return None
    if rest in ("/types", "/attributes") or (rest or "").startswith(("/types/", "/attributes/")):
        return _discovery(state, scope, grant, rest or "")
    raise Forbidden("a transfer's token reads the dataset's entities, their history, types and "
                    "attributes only")


def _restrict_types(state: Any, scope: Scope, grant: Grant) -> None:
    params = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    given = [v for k, v in params if k == "type"]
    if given:
        context = state.broker.context(parse_link_header(_header(scope, b"link")))
        names = _type_names(parse_type_selection(given[0], context.expand))
        outside = sorted(names - grant.types)
        if outside:
            raise Forbidden(f"type {context.compact(outside[0])} is not in dataset "
                            f"{grant.transfer.dataset_id}")
    else:
        params.append(("type", ",".join(sorted(grant.types))))
    params = [(k, v) for k, v in params if k != "local"] + [("local", "true")]
    scope["query_string"] = urlencode(params).encode("latin-1")


def _type_names(node: Node) -> set[str]:
    if isinstance(node, TypeName):
        return {node.iri}
    if isinstance(node, And | Or):
        return set().union(*(_type_names(i) for i in node.items))
    raise BadRequestData("type: only type names, `,` `|` `;` and parentheses")


def _current_types(store: Store, tenant: str, entity_id: str) -> set[str]:
    entity = store.get_entity(tenant, entity_id)
    return set(entity.types) if entity is not None else set()


def _temporal_types(store: Store, tenant: str, entity_id: str) -> set[str]:
    return DataspaceStore(store).temporal_types(tenant, entity_id) \
        | _current_types(store, tenant, entity_id)


def _discovery(state: Any, scope: Scope, grant: Grant, rest: str) -> ASGIApp:
    """Answer /types and /attributes from the dataset's types only."""
    link = parse_link_header(_header(scope, b"link"))
    context = state.broker.context(link)
    compact: Callable[[str], str] = context.compact
    params = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    details = params.get("details", "false").lower() == "true"
    counts = {t: n for t, n in state.broker.types(grant.tenant).items() if t in grant.types}
    summary = {a: {**s, "types": set(s["types"]) & grant.types}
               for a, s in state.broker.attributes(grant.tenant).items()}
    summary = {a: s for a, s in summary.items() if s["types"]}
    body: Any
    if rest.startswith("/types/"):
        iri = context.expand(unquote(rest[len("/types/"):]))
        if iri not in counts:
            return _not_found(scope, f"no entity of type {iri} is in the dataset")
        body = {"id": iri, "type": "EntityTypeInfo", "typeName": compact(iri),
                "entityCount": counts[iri],
                "attributeDetails": [{"id": a, "type": "Attribute", "attributeName": compact(a),
                                      "attributeTypes": sorted(s["kinds"])}
                                     for a, s in sorted(summary.items()) if iri in s["types"]]}
    elif rest.startswith("/attributes/"):
        iri = context.expand(unquote(rest[len("/attributes/"):]))
        if iri not in summary:
            return _not_found(scope, f"no entity of the dataset has an attribute {iri}")
        body = _attribute(iri, summary[iri], compact)
    elif rest == "/types":
        body = ([{"id": t, "type": "EntityType", "typeName": compact(t),
                  "attributeNames": sorted(compact(a) for a, s in summary.items()
                                           if t in s["types"])} for t in sorted(counts)]
                if details else
                {"id": f"urn:ngsi-ld:EntityTypeList:{uuid.uuid4()}", "type": "EntityTypeList",
                 "typeList": [compact(t) for t in sorted(counts)]})
    else:
        body = ([_attribute(a, s, compact) for a, s in sorted(summary.items())] if details else
                {"id": f"urn:ngsi-ld:AttributeList:{uuid.uuid4()}", "type": "AttributeList",
                 "attributeList": [compact(a) for a in sorted(summary)]})
    return _json_answer(body, 200, link or CORE_CONTEXT_URL)


def _attribute(iri: str, info: dict[str, Any], compact: Callable[[str], str]) -> dict[str, Any]:
    # The store counts an attribute over every type; a dataset sees only its types, so the
    # count is left out rather than shown for more entities than the dataset holds.
    return {"id": iri, "type": "Attribute", "attributeName": compact(iri),
            "attributeTypes": sorted(info["kinds"]),
            "typeNames": sorted(compact(t) for t in info["types"])}


def _json_answer(body: Any, status: int, context_url: str) -> ASGIApp:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()

    async def answer(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(content)).encode()),
                   (b"link", link_header(context_url).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    return answer


def _not_found(scope: Scope, detail: str) -> ASGIApp:
    from civictwin.errors import ResourceNotFound

    problem = ResourceNotFound(detail).to_problem(instance=scope["path"])
    return _json_answer(problem, 404, CORE_CONTEXT_URL)


def _purpose(scope: Scope) -> str | None:
    value = _header(scope, PURPOSE_HEADER)
    return value.strip() if value and value.strip() else None


def _location(params: dict[str, str]) -> BaseGeometry | None:
    if "geometry" not in params or "coordinates" not in params:
        return None
    try:
        return shapely.geometry.shape({"type": params["geometry"],
                                       "coordinates": json.loads(params["coordinates"])})
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadRequestData(f"geometry/coordinates do not make a geometry: {exc}") from exc


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _set_header(scope: Scope, name: bytes, value: str) -> None:
    kept: Iterable[tuple[bytes, bytes]] = [(k, v) for k, v in scope["headers"]
                                           if k.lower() != name]
    scope["headers"] = [*kept, (name, value.encode("latin-1"))]


def _record(store: Store, grant: Grant, actor: str, action: str, scope: Scope,
            detail: dict[str, Any]) -> None:
    query = scope.get("query_string", b"").decode("latin-1")
    where = scope["path"] + (f"?{query}" if query else "")
    AuditLog(store).record(grant.agreement.tenant, actor, action,
                           grant.agreement.agreement_id or grant.transfer.pid,
                           {"request": f"{scope['method']} {where}",
                            "transfer": grant.transfer.pid, **detail})

"""Who asks, under which agreement and rules: what the API and the CLI both resolve first."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace.negotiation import FINALIZED, Negotiations
from civictwin.dataspace.participants import Participant
from civictwin.dataspace.states import PROVIDER
from civictwin.errors import BadRequestData, Forbidden, ResourceNotFound
from civictwin.privacy.aggregation import release_from_row
from civictwin.privacy.model import AggregateRequest, Release
from civictwin.privacy.rules import DisclosureRules
from civictwin.store import Store
from civictwin.store.privacy import PrivacyStore


@dataclass(frozen=True)
class Asker:
    """The consumer a release is for, the agreement it is under and the rules that apply."""

    tenant: str
    consumer: str
    agreement: str | None
    rules: DisclosureRules


def asker_from_grant(grant: Mapping[str, Any], agreement: str | None) -> Asker:
    """Return the asker a transfer token stands for (its agreement's rules, nothing else)."""
    if agreement is not None and agreement != grant["agreement"]:
        raise Forbidden(f"this transfer's token is for agreement {grant['agreement']}, "
                        f"not {agreement}")
    return Asker(str(grant["tenant"]), str(grant["consumer"]), str(grant["agreement"]),
                 DisclosureRules.from_policy(grant["policy"]))


def asker_for(store: Store, settings: Settings, who: Participant, tenant: str,
              agreement: str | None, consumer: str | None = None,
              rules: DisclosureRules | None = None) -> Asker:
    """Return the asker for a participant's own request (an operator, or the data's holder)."""
    if not who.may_use(tenant):
        raise Forbidden(f"participant {who.id} does not hold tenant {tenant or '(default)'!r}; "
                        "an external consumer asks for aggregates with a transfer's token")
    if agreement is None:
        return Asker(tenant, consumer or who.id, None, rules or DisclosureRules())
    found = Negotiations(store, settings).agreement(agreement)
    if found.role != PROVIDER:
        raise BadRequestData(f"agreement {agreement} is one this twin consumes; its provider "
                             "releases aggregates under it")
    if found.state != FINALIZED or found.agreement_status != "active":
        raise Forbidden(f"agreement {agreement} is {found.agreement_status or found.state}; "
                        "it grants no release")
    if consumer is not None and consumer != found.counterparty:
        raise BadRequestData(f"agreement {agreement} is with {found.counterparty}, "
                             f"not {consumer}")
    if rules is not None:
        raise BadRequestData("the rules of a release under an agreement are the agreement's")
    if who.tenant and found.tenant != who.tenant and not who.operator:
        raise Forbidden(f"agreement {agreement} shares another tenant's data")
    return Asker(found.tenant, found.counterparty, agreement,
                 DisclosureRules.from_policy(found.agreement or {}))


def parse_request(body: Any, tenant: str) -> AggregateRequest:
    """Return the AggregateRequest a JSON body describes; BadRequestData on any fault."""
    if not isinstance(body, Mapping):
        raise BadRequestData("the body must be a JSON object")
    group_by = body.get("groupBy", body.get("group_by", ["district"]))
    if isinstance(group_by, str):
        group_by = [g for g in group_by.split(",") if g]
    if not isinstance(group_by, list) or not all(isinstance(g, str) for g in group_by):
        raise BadRequestData("groupBy must be a list of dimension names")
    fields = {k: body.get(k) for k in ("quantity", "start", "end", "area")}
    for name, value in fields.items():
        if value is not None and not isinstance(value, str):
            raise BadRequestData(f"{name} must be a string")
    period = body.get("period", "month")
    if period is not None and not isinstance(period, str):
        raise BadRequestData("period must be hour, day, month or null")
    return AggregateRequest(tenant=tenant, quantity=fields["quantity"] or "",
                            group_by=tuple(group_by), period=period,
                            start=fields["start"] or "", end=fields["end"] or "",
                            area=fields["area"])


def rules_from_json(body: Any) -> DisclosureRules | None:
    """Return rules given in a body's `rules` object (operators' own analyses), if any."""
    if body is None:
        return None
    if not isinstance(body, Mapping):
        raise BadRequestData("rules must be a JSON object")
    names = {"minContributors": "min_contributors", "dominanceN": "dominance_n",
             "dominanceK": "dominance_k", "hierarchy": "hierarchy", "onFail": "on_fail",
             "dpEpsilon": "dp_epsilon", "dpBudget": "dp_budget", "dpBound": "dp_bound"}
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise BadRequestData(f"rules: unknown {unknown[0]!r} (use {', '.join(names)})")
    values: dict[str, Any] = {names[k]: (tuple(v) if k == "hierarchy" else v)
                              for k, v in body.items()}
    try:
        return DisclosureRules(**values)
    except TypeError as exc:
        raise BadRequestData(f"rules: {exc}") from None


def releases(store: Store, tenant: str, consumer: str | None, limit: int = 100
             ) -> list[Release]:
    """Return the tenant's releases (to one consumer), newest first."""
    return [release_from_row(r) for r in PrivacyStore(store).releases(tenant, consumer, limit)]


def release(store: Store, tenant: str, release_id: str, consumer: str | None) -> Release:
    """Return one release; ResourceNotFound if unknown or not the consumer's."""
    row = PrivacyStore(store).release(tenant, release_id)
    if row is None or (consumer is not None and row["consumer"] != consumer):
        raise ResourceNotFound(f"no release {release_id}")
    return release_from_row(row)

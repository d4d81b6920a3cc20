"""Aggregate private meter data for one consumer under an agreement's disclosure rules.

`aggregate` computes the requested cells from per-meter sums, applies the rules (merging or
suppressing what fails), checks the result against the consumer's release ledger for
differencing, spends differential-privacy budget if the agreement asks for noise, and records
the release, all under the consumer's ledger lock so racing releases are checked in turn.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from civictwin.analytics.algorithms import CONTACT, Algorithm, register
from civictwin.privacy import control, dp, ledger
from civictwin.privacy.model import AggregateRequest, Cell, Release
from civictwin.privacy.rules import DisclosureRules
from civictwin.privacy.sources import (
    ContributionSource,
    Profile,
    StoreSource,
    eligible,
    only,
)
from civictwin.store import Store
from civictwin.store.privacy import Footprint, PrivacyStore

ALGORITHM = "statistical-disclosure-control"
VERSION = "1.1"
STAGES = ("reading meter profiles", "summing readings per meter", "applying the rules",
          "checking the release ledger", "recording the release")
"""What `on_stage` is told, in order."""

register(Algorithm(
    id=ALGORITHM,
    name="Disclosure control of shared aggregates",
    description_short="Releases utility meter aggregates only in cells with enough, "
                      "non-dominant contributors; merges or suppresses the rest.",
    purpose="Let a utility share energy and water use with the city (business to government) "
            "without revealing any one household's or company's consumption.",
    kind="rule-based",
    module="civictwin.privacy.aggregation",
    owner="The data provider (e.g. the utility) sets the rules in its offer; the data-space "
          "operator of the city runs them.",
    data_used=("meter readings (history or lake) of electricity, heat, gas or water",
               "meters' buildings: district, street block, use, heating, year built",
               "the disclosure rules of the sharing agreement",
               "the consumer's earlier releases (the release ledger)"),
    method="Per-meter sums per cell; a cell is released if it has at least N contributors "
           "and its n largest hold at most share k (threshold and (n,k) dominance rules). "
           "Failing cells are pooled within their parent area (building, block, district, "
           "city), taking in the smallest passing neighbour while the pool fails, or "
           "suppressed. Every released value's contributor set and time window is checked "
           "against the consumer's earlier releases: a remainder (an area minus a building, a "
           "longer period minus a shorter one, a total minus cells inside it) that fails the "
           "rules refuses the release. Optional Laplace noise (OpenDP) with a per-agreement "
           "epsilon budget.",
    limits_risks="The ledger checks nested differences and unions of cells, not every linear "
                 "combination of overlapping releases; contributor counts and suppression "
                 "are exact even with noise; merged and suppressed cells lose detail for "
                 "small districts.",
    risk_management="Rules are data in each signed agreement and shown in plain language; "
                    "every release and refusal is in the ledger and the audit trail; noise "
                    "spends a budget that refuses further releases once used up.",
    human_oversight="The provider reviews the rules it offers; the city's data-protection "
                    "officer reviews the ledger (GET /privacy/releases) and refusals.",
    legal_basis="The contract agreement between provider and consumer; GDPR art. 5(1)(c) "
                "(data minimisation) and art. 89 (statistics).",
    contact=CONTACT,
    version=VERSION,
))


def aggregate(store: Store, request: AggregateRequest, rules: DisclosureRules, consumer: str,
              agreement: str | None = None, *, source: ContributionSource | None = None,
              on_stage: Callable[[str], None] | None = None) -> Release:
    """Return a disclosure-controlled release of the request for `consumer`, recorded."""
    source = source or StoreSource(store)
    stage = on_stage or (lambda _: None)
    stage(STAGES[0])
    everyone = eligible(source.profiles(request.tenant), replace(request, area=None))
    profiles = eligible(everyone, request)
    control.path_from(request, rules)
    stage(STAGES[1])
    contributions = only(source.contributions(request), profiles)
    stage(STAGES[2])
    settled = control.settle(request, rules, profiles,
                             control.cells_of(request, profiles, contributions))
    new = control.footprints(request, settled)
    rows = PrivacyStore(store)

    def fetch(start: str, end: str) -> dict[str, float]:
        window = replace(request, period=None, start=start, end=end, area=None)
        return {c.meter: c.value for c in only(source.contributions(window), everyone)}

    release_id = f"urn:ngsi-ld:AggregateRelease:{uuid.uuid4()}"
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    stage(STAGES[3])
    with rows.consumer_lock(request.tenant, consumer) as conn:
        low, high = control.window(request, "")
        old = rows.footprints(conn, request.tenant, consumer, request.quantity, low, high)
        if old:  # what nests with those may reach further back or ahead
            low, high = min(low, *(f.start for f in old)), max(high, *(f.end for f in old))
            old = rows.footprints(conn, request.tenant, consumer, request.quantity, low, high)
        ledger.refuse_if_revealing(new, old, rules, fetch)
        cells, method, spent, left = _finish(request, rules, settled, source.name, len(old))
        if rules.dp_epsilon is not None and rules.dp_budget is not None:
            left = rows.spend(conn, request.tenant, agreement or f"consumer:{consumer}",
                              rules.dp_budget, spent, created)
        release = Release(release_id, cells, method, spent, consumer, agreement,
                          request.to_json(), created, left)
        stage(STAGES[4])
        rows.record(conn, request.tenant, _row(release, request),
                    [replace(f, release_id=release_id) for f in new])
    return release


def _finish(request: AggregateRequest, rules: DisclosureRules, settled: control.Settled,
            source: str, earlier: int) -> tuple[list[Cell], dict[str, object], float,
                                                 float | None]:
    """Add noise if asked; return the cells, the method record, epsilon spent, budget left."""
    method: dict[str, object] = {
        "algorithm": ALGORITHM, "register": f"/algorithms/{ALGORITHM}", "version": VERSION,
        "rules": rules.to_json(),
        "description": rules.describe(), "source": source, "level": request.level,
        "differencing": f"checked against {earlier} earlier footprint(s) of this consumer",
        "differentialPrivacy": None}
    if rules.dp_epsilon is None or rules.dp_bound is None:
        return settled.cells, method, 0.0, None
    valued = [o for o in settled.outcomes if o.status != "suppressed"]
    periods = len({o.group.bucket for o in valued}) or 1
    totals = [dp.clamp(list(o.group.values.values()), rules.dp_bound) for o in valued]
    noisy, noise = dp.laplace(totals, rules.dp_bound, periods, rules.dp_epsilon)
    by_key = dict(settled.by_key)
    for o, value in zip(valued, noisy, strict=True):
        for key in o.group.members:
            by_key[key] = replace(by_key[key], value=value)
    method["differentialPrivacy"] = {
        "mechanism": "Laplace (OpenDP make_laplace)", "epsilon": noise.epsilon,
        "scale": noise.scale, "sensitivity": noise.sensitivity,
        "contributionBound": rules.dp_bound, "periods": periods,
        "note": "values are noised; contributor counts and suppression are exact"}
    return [by_key[k] for k in sorted(by_key)], method, noise.epsilon, None


def _row(release: Release, request: AggregateRequest) -> dict[str, object]:
    return {"id": release.id, "consumer": release.consumer, "agreement": release.agreement,
            "quantity": request.quantity, "request": json.dumps(release.request),
            "method": json.dumps(release.method),
            "cells": json.dumps([c.to_json() for c in release.cells]),
            "epsilon": release.epsilon_spent, "created_at": release.created_at}


def release_from_row(row: dict[str, object]) -> Release:
    """Rebuild a recorded release from its ledger row."""
    cells = [Cell(c["keys"], c["level"], c["value"], c["contributors"], c["status"],
                  c["reason"], c.get("group")) for c in json.loads(str(row["cells"]))]
    return Release(str(row["id"]), cells, json.loads(str(row["method"])),
                   float(str(row["epsilon"])), str(row["consumer"]),
                   str(row["agreement"]) if row["agreement"] else None,
                   json.loads(str(row["request"])), str(row["created_at"]))


__all__ = ["Footprint", "Profile", "aggregate", "release_from_row"]

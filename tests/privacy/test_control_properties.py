"""Property tests: every value released meets every rule, and nothing is left to subtract.

The pure part (cells, merge, suppress) runs on generated cities with many examples; the whole
path (readings in a real store, the ledger, the API's Release) on both stores with a few.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
from civictwin.privacy.control import cells_of, settle
from civictwin.privacy.sources import Contribution, Profile, construction_period
from civictwin.store import Store
from tests.privacy import city

DISTRICTS = ["d1", "d2", "d3"]
STREETS = ["Elm", "Oak"]
USES = ["residential", "office"]

meter_st = st.tuples(st.sampled_from(DISTRICTS), st.sampled_from(STREETS),
                     st.sampled_from(USES), st.lists(st.floats(0.0, 5000.0), min_size=2,
                                                     max_size=2))
rules_st = st.builds(DisclosureRules, min_contributors=st.integers(1, 8),
                     dominance_n=st.integers(1, 3),
                     dominance_k=st.sampled_from([0.15, 0.5, 0.85, 1.0]),
                     hierarchy=st.sampled_from([("building", "block", "district", "city"),
                                                ("block", "district", "city"),
                                                ("district", "city")]),
                     on_fail=st.sampled_from(["merge", "suppress"]))
group_st = st.sampled_from([("district",), ("block",), ("district", "building_use"), ()])


def profiles_and_contributions(meters: list[tuple[str, str, str, list[float]]]
                               ) -> tuple[dict[str, Profile], list[Contribution]]:
    """Return profiles and two months of contributions of generated meters."""
    profiles, contributions = {}, []
    for n, (district, street, use, values) in enumerate(meters):
        meter = f"m{n}"
        profiles[meter] = Profile(meter, f"b{n}", f"{district}|{street}", district, "Lumen", use,
                                  "gasBoiler", construction_period(1980), "NaturalGas")
        contributions += [Contribution(meter, f"2024-0{i + 1}", v, 1)
                          for i, v in enumerate(values)]
    return profiles, contributions


@settings(max_examples=300, deadline=None)
@given(st.lists(meter_st, min_size=1, max_size=40), rules_st, group_st)
def test_every_released_value_meets_every_rule(meters: list[tuple[str, str, str, list[float]]],
                                               rules: DisclosureRules,
                                               group_by: tuple[str, ...]) -> None:
    level = next((g for g in group_by if g in ("district", "block")), "city")
    if level not in rules.hierarchy:
        group_by = ()
    request = AggregateRequest("", "electricity", group_by, "month", "2024-01-01", "2024-03-01")
    profiles, contributions = profiles_and_contributions(meters)
    groups = cells_of(request, profiles, contributions)
    settled = settle(request, rules, profiles, groups)
    assert sorted(k for o in settled.outcomes for k in o.group.members) == sorted(groups)
    for outcome in settled.outcomes:
        values = outcome.group.values
        if outcome.status == "suppressed":
            continue
        assert rules.check(values.values()) is None
        assert len(values) >= rules.min_contributors
        top = sorted(values.values(), reverse=True)[: rules.dominance_n]
        assert sum(top) <= rules.dominance_k * sum(values.values()) + 1e-9 or \
            sum(values.values()) == 0
    for cell in settled.cells:
        assert (cell.value is None) == (cell.status == "suppressed")
        assert cell.reason
    if rules.on_fail == "merge":
        # Nothing is suppressed that could have been merged: what a slice (same other keys and
        # period) suppresses fails the rules even when pooled.
        suppressed: dict[tuple[object, ...], list[float]] = defaultdict(list)
        for o in settled.outcomes:
            if o.status == "suppressed":
                suppressed[(o.group.dims, o.group.bucket)] += o.group.values.values()
        for values in suppressed.values():
            assert rules.check(values) is not None


@pytest.mark.slow
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 14), min_size=2, max_size=4),
       rules=rules_st.filter(lambda r: "district" in r.hierarchy))
def test_released_cells_meet_the_rules_through_the_store(store: Store, sizes: list[int],
                                                         rules: DisclosureRules) -> None:
    import uuid

    tenant = f"t{uuid.uuid4().hex[:12]}"
    meters, number = [], 0
    for d, size in enumerate(sizes):
        for _ in range(size):
            number += 1
            meters.append(city.Meter(number, f"d{d}", readings=city.monthly(
                2024, [float(number * 7 % 90 + 1), float(number % 13 + 2)])))
    city.build(store, tenant, meters)
    release = aggregate(store, AggregateRequest(tenant, "electricity", ("district",), "month",
                                                "2024-01-01", "2024-03-01"),
                        rules, f"urn:city:{uuid.uuid4().hex[:6]}")
    truth = {m.id: m for m in meters}
    assert len(release.cells) == 2 * len(sizes)
    for cell in release.cells:
        if cell.status == "suppressed":
            assert cell.value is None and cell.contributors == 0
            continue
        assert cell.contributors >= rules.min_contributors
        assert cell.value is not None and cell.value >= 0
    released = [c for c in release.cells if c.status == "released"]
    for cell in released:
        month = int(cell.keys["period"][-2:]) - 1
        members = [m for m in truth.values()
                   if city.district_id(m.district) == cell.keys["district"]]
        assert cell.contributors == len(members)
        assert cell.value == pytest.approx(sum(m.readings[month][1] for m in members))

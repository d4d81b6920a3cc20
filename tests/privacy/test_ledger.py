"""Differencing attacks on both stores: the ledger refuses by contributor sets, not query text."""

from __future__ import annotations

import pytest

from civictwin.errors import Forbidden
from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
from civictwin.privacy.ledger import audit
from civictwin.store import Store
from civictwin.store.privacy import Footprint, PrivacyStore
from tests.privacy import city

RULES = DisclosureRules(min_contributors=5)
YEAR = ("2024-01-01", "2025-01-01")


def street_city(store: Store, tenant: str) -> list[city.Meter]:
    """District d1: 6 meters on Elm, 1 on Oak; district d2: 6 meters on Elm."""
    meters = [city.Meter(n, "d1", "Elm", readings=city.monthly(2024, [10.0 + n] * 12))
              for n in range(1, 7)]
    meters.append(city.Meter(7, "d1", "Oak", readings=city.monthly(2024, [99.0] * 12)))
    meters += [city.Meter(n, "d2", "Elm", readings=city.monthly(2024, [20.0] * 12))
               for n in range(8, 14)]
    city.build(store, tenant, meters)
    return meters


def ask(tenant: str, group_by: tuple[str, ...], area: str | None = None,
        period: str | None = None, span: tuple[str, str] = YEAR) -> AggregateRequest:
    """Return a request for electricity."""
    return AggregateRequest(tenant, "electricity", group_by, period, span[0], span[1], area)


def test_an_area_minus_one_building_is_refused(store: Store, tenant: str) -> None:
    street_city(store, tenant)
    whole = aggregate(store, ask(tenant, ("district",)), RULES, "urn:city")
    assert [(c.keys["district"][-2:], c.contributors) for c in whole.cells] == \
        [("d1", 7), ("d2", 6)]
    # Elm Street in d1 is d1 without the one building on Oak Street.
    with pytest.raises(Forbidden, match="remainder with fewer than 5 contributors") as refused:
        aggregate(store, ask(tenant, ("block",), area="urn:ngsi-ld:CityDistrict:d1|Elm"),
                  RULES, "urn:city")
    assert refused.value.extra["rule"] == "differencing"
    # The same sets by another route: the blocks of d1, with failing cells suppressed.
    suppress = DisclosureRules(min_contributors=5, on_fail="suppress")
    with pytest.raises(Forbidden, match="remainder"):
        aggregate(store, ask(tenant, ("block",), area="urn:ngsi-ld:CityDistrict:d1"),
                  suppress, "urn:city")
    assert len(PrivacyStore(store).releases(tenant, "urn:city")) == 1
    # Another consumer has no earlier release to subtract from.
    other = aggregate(store, ask(tenant, ("block",), area="urn:ngsi-ld:CityDistrict:d1|Elm"),
                      RULES, "urn:other")
    assert other.cells[0].contributors == 6


def test_merging_hides_the_lone_building_within_one_release(store: Store,
                                                            tenant: str) -> None:
    street_city(store, tenant)
    blocks = aggregate(store, ask(tenant, ("block",)), RULES, "urn:city")
    d1 = [c for c in blocks.cells if c.keys["block"].startswith("urn:ngsi-ld:CityDistrict:d1")]
    assert {c.status for c in d1} == {"merged"} and {c.contributors for c in d1} == {7}
    assert "Oak" in d1[0].reason or "Elm" in d1[0].reason
    # The districts now add nothing new: d1 is the merged pool, d2 its single block.
    aggregate(store, ask(tenant, ("district",)), RULES, "urn:city")


def test_a_time_slice_that_leaves_one_meter_is_refused(store: Store, tenant: str) -> None:
    old = city.Meter(1, "d1", readings=city.monthly(2024, [50.0, 50.0, 50.0]))
    joined = [city.Meter(n, "d1", readings=[("2024-02-01T00:00:00Z", 5.0),
                                            ("2024-03-01T00:00:00Z", 5.0)])
              for n in range(2, 8)]
    city.build(store, tenant, [old, *joined])
    quarter = aggregate(store, ask(tenant, ("district",), span=("2024-01-01", "2024-04-01")),
                        RULES, "urn:city")
    assert quarter.cells[0].contributors == 7
    # February and March have the same seven meters, but January only the old one.
    with pytest.raises(Forbidden, match="fewer than 5 contributors"):
        aggregate(store, ask(tenant, ("district",), span=("2024-02-01", "2024-04-01")),
                  RULES, "urn:city")
    # Monthly cells inside the quarter: January alone fails and is suppressed, and the
    # quarter minus February and March is January again.
    with pytest.raises(Forbidden, match="remainder"):
        aggregate(store, ask(tenant, ("district",), period="month",
                             span=("2024-01-01", "2024-04-01")), RULES, "urn:city")


def test_nested_time_slices_of_the_same_meters_are_released(store: Store,
                                                            tenant: str) -> None:
    street_city(store, tenant)
    aggregate(store, ask(tenant, ("district",)), RULES, "urn:city")
    months = aggregate(store, ask(tenant, ("district",), period="month"), RULES, "urn:city")
    assert {c.status for c in months.cells} == {"released"}
    half = aggregate(store, ask(tenant, ("district",), span=("2024-01-01", "2024-07-01")),
                     RULES, "urn:city")
    assert [c.contributors for c in half.cells] == [7, 6]


def test_a_suppressed_cell_cannot_be_recovered_from_an_earlier_total(store: Store,
                                                                     tenant: str) -> None:
    street_city(store, tenant)
    suppress = DisclosureRules(min_contributors=5, on_fail="suppress")
    aggregate(store, ask(tenant, ()), suppress, "urn:city")
    # Blocks: d1|Oak (one meter) is suppressed; the city total minus the others reveals it.
    with pytest.raises(Forbidden, match="remainder"):
        aggregate(store, ask(tenant, ("block",)), suppress, "urn:city")


def test_audit_measures_a_time_remainder_from_the_data() -> None:
    members = frozenset({"a", "b", "c"})
    year = Footprint("year", "electricity", "2024-01", "2025-01", members, "r1")
    first = Footprint("jan-jun", "electricity", "2024-01", "2024-07", members)
    asked: list[tuple[str, str]] = []

    def fetch(start: str, end: str) -> dict[str, float]:
        asked.append((start, end))
        return {"a": 1.0, "b": 2.0, "c": 3.0}

    found = audit([first], [year], DisclosureRules(min_contributors=3), fetch)
    assert found is None and asked == [("2024-07", "2025-01")]
    lone = audit([first], [year], DisclosureRules(min_contributors=3),
                 lambda s, e: {"a": 1.0})
    assert lone is not None and "fewer than 3" in lone.reason

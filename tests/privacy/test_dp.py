"""Differential privacy: noised values, and a per-agreement budget that refuses when spent."""

from __future__ import annotations

import pytest

from civictwin.errors import Forbidden
from civictwin.privacy import AggregateRequest, DisclosureRules, aggregate
from civictwin.privacy.dp import laplace
from civictwin.store import Store
from civictwin.store.privacy import PrivacyStore
from tests.privacy import city

RULES = DisclosureRules(min_contributors=3, dp_epsilon=1.0, dp_budget=2.5, dp_bound=100.0)


def request(tenant: str, start: str) -> AggregateRequest:
    """Return a one-month request for the city's electricity by district."""
    end = {"2024-01-01": "2024-02-01", "2024-02-01": "2024-03-01"}.get(start, "2024-04-01")
    return AggregateRequest(tenant, "electricity", ("district",), "month", start, end)


def test_the_budget_is_spent_and_then_refuses(store: Store, tenant: str) -> None:
    meters = [city.Meter(n, "d1", readings=city.monthly(2024, [40.0, 40.0, 40.0]))
              for n in range(1, 6)]
    city.build(store, tenant, meters)
    first = aggregate(store, request(tenant, "2024-01-01"), RULES, "urn:city", "urn:agr:1")
    assert first.epsilon_spent == pytest.approx(1.0) and first.budget_left == pytest.approx(1.5)
    noise = first.method["differentialPrivacy"]
    assert isinstance(noise, dict) and noise["scale"] == pytest.approx(100.0)
    assert first.cells[0].value != pytest.approx(200.0, abs=1e-9)
    second = aggregate(store, request(tenant, "2024-02-01"), RULES, "urn:city", "urn:agr:1")
    assert second.budget_left == pytest.approx(0.5)
    with pytest.raises(Forbidden, match="privacy budget of agreement urn:agr:1 is spent"):
        aggregate(store, request(tenant, "2024-03-01"), RULES, "urn:city", "urn:agr:1")
    # The refusal recorded nothing, and the budget is kept in the store.
    assert len(PrivacyStore(store).releases(tenant, "urn:city")) == 2
    assert PrivacyStore(store).budget(tenant, "urn:agr:1") == (2.5, pytest.approx(2.0))
    other = aggregate(store, request(tenant, "2024-03-01"), RULES, "urn:city", "urn:agr:2")
    assert other.budget_left == pytest.approx(1.5)


def test_the_noise_follows_the_sensitivity() -> None:
    values, noise = laplace([1000.0] * 4000, bound=10.0, periods=2, epsilon=0.5)
    assert noise.sensitivity == 20.0 and noise.scale == 40.0 and noise.epsilon == 0.5
    mean_error = sum(abs(v - 1000.0) for v in values) / len(values)
    assert 30.0 < mean_error < 50.0  # E|Laplace(b)| = b

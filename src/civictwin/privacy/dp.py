"""Optional differential privacy: Laplace noise (OpenDP) on released values.

Each contributor's part of a cell is clamped to [0, bound] (the agreement's
civictwin:contributionBound), and a contributor lies in one released value per period, so
adding or removing one contributor moves the vector of released values by at most
bound x periods in L1. OpenDP's Laplace mechanism with scale bound x periods / epsilon then
gives epsilon-differential privacy for the values, per release; the agreement's budget adds
the epsilons up (sequential composition) and refuses a release once they would pass it.
The contributor counts and which cells pass the threshold rules are exact, not noised: the
guarantee covers what contributors consumed, not whether a meter exists in an area.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import opendp.prelude as dp

dp.enable_features("contrib")


@dataclass(frozen=True)
class Noise:
    """What the mechanism did: its scale, the sensitivity it assumed and the epsilon it spent."""

    scale: float
    sensitivity: float
    epsilon: float


def clamp(values: Sequence[float], bound: float) -> float:
    """Return the sum of per-contributor values, each clamped to [0, bound]."""
    return float(sum(min(max(v, 0.0), bound) for v in values))


def laplace(totals: Sequence[float], bound: float, periods: int, epsilon: float
            ) -> tuple[list[float], Noise]:
    """Return the totals with Laplace noise for epsilon-DP, and the mechanism's parameters."""
    sensitivity = bound * max(periods, 1)
    scale = sensitivity / epsilon
    mechanism = dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=float, nan=False)),
                                  dp.l1_distance(T=float), scale=scale)
    spent = float(mechanism.map(sensitivity))  # type: ignore[no-untyped-call]
    noisy = mechanism(list(totals)) if totals else []
    return [float(v) for v in noisy], Noise(scale, sensitivity, spent)

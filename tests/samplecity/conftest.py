"""The sample city, generated once for the whole session (it is deterministic)."""

from __future__ import annotations

import pytest

from civictwin.samplecity import SampleCity, generate_city


@pytest.fixture(scope="session")
def city() -> SampleCity:
    """Return the default sample city: seed 7, 3,000 buildings."""
    return generate_city()

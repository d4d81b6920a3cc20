"""Lumen, a deterministic sample city: districts, buildings, energy meters and stations.

``generate_city(seed, buildings)`` returns NGSI-LD entities (Smart Data Models types where one
exists, civictwin vocabulary otherwise, all mapped in ``civictwin-context.jsonld``);
``meter_readings`` and ``station_readings`` replay a year of synthetic history as numpy arrays.
"""

from civictwin.samplecity.city import (
    CONTEXT,
    REFERENCE_YEAR,
    SampleCity,
    generate_city,
    iter_entities,
    meter_readings,
    station_readings,
)
from civictwin.samplecity.meters import MeterSeries
from civictwin.samplecity.stations import StationSeries

__all__ = [
    "CONTEXT",
    "REFERENCE_YEAR",
    "MeterSeries",
    "SampleCity",
    "StationSeries",
    "generate_city",
    "iter_entities",
    "meter_readings",
    "station_readings",
]

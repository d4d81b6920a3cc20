"""The entity types the twin validates, after the Smart Data Models definitions (OASC MIM2).

Written for civictwin from the public SDM definitions of each type (attribute names, value
types, enumerations, ranges and required attributes); `CityDistrict` is civictwin's own.
Attributes SDM does not define are not checked: SDM types are open to extra attributes.
Where SDM gives no bound but the quantity cannot be negative (floors, population) the rule
says so; that is civictwin's addition and is named in the error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from civictwin.models.rules import (
    Anything,
    Date,
    DateMember,
    DateTime,
    Geo,
    Link,
    Number,
    Plain,
    PlainList,
    Record,
    Records,
    Rule,
    Text,
    Texts,
    strings,
)


@dataclass(frozen=True)
class EntityModel:
    """One entity type: its rules by attribute short name and the attributes it requires."""

    type: str
    source: str
    attributes: dict[str, Rule] = field(default_factory=dict)
    required: tuple[str, ...] = ()


ADDRESS = Record(members={name: Plain() for name in (
    "streetAddress", "streetNr", "addressLocality", "addressRegion", "addressCountry",
    "postalCode", "postOfficeBoxNumber", "district")})

# GSMA-Commons and Location-Commons, which every SDM type below includes.
COMMON: dict[str, Rule] = {
    "name": Text(languages=True),
    "description": Text(languages=True),
    "alternateName": Text(),
    "dataProvider": Text(),
    "source": Text(),
    "dateCreated": DateTime(),
    "dateModified": DateTime(),
    "location": Geo(),
    "address": ADDRESS,
    "areaServed": Text(),
}

BUILDING_CATEGORIES = strings((
    "apartments", "bakehouse", "barn", "bridge", "bungalow", "bunker", "cathedral", "cabin",
    "carport", "cemetery", "chapel", "church", "civic", "commercial", "conservatory",
    "construction", "cowshed", "detached", "digester", "dormitory", "farm", "farm_auxiliary",
    "garage", "garages", "garbage_shed", "grandstand", "greenhouse", "hangar", "hospital",
    "hotel", "house", "houseboat", "hut", "industrial", "kindergarten", "kiosk", "mosque",
    "office", "parking", "pavilion", "public", "residential", "retail", "riding_hall", "roof",
    "ruins", "school", "service", "shed", "shrine", "stable", "stadium", "static_caravan",
    "sty", "synagogue", "temple", "terrace", "train_station", "transformer_tower",
    "transportation", "university", "warehouse", "water_tower"))

NON_NEGATIVE = Number(minimum=0)
FLOORS = Number(minimum=0, integer=True)

BUILDING = EntityModel("Building", "dataModel.Building/Building", {
    **COMMON,
    "category": Texts(BUILDING_CATEGORIES),
    "containedInPlace": Geo(),
    "occupier": Link(),
    "floorsAboveGround": FLOORS,
    "floorsBelowGround": FLOORS,
    "openingHours": Texts(),
    "collapseRisk": Number(0, 1),
    "peopleCapacity": NON_NEGATIVE,
    "peopleOccupancy": NON_NEGATIVE,
}, required=("category", "address"))

SMART_METERING_OBSERVATION = EntityModel(
    "SmartMeteringObservation", "dataModel.Device/SmartMeteringObservation", {
        **COMMON,
        "entityVersion": Text(strings(("2.0", "LD"))),
        "meterType": Text(),
        "refDevice": Link(),
        "totalConsumption": Number(),
        "peakConsumption": Number(),
        "offPeakConsumption": Number(),
        "powerFactor": Number(-1, 1),
    })

AIR_AMOUNTS = ("as", "c6h6", "cd", "co", "co2", "ni", "no", "no2", "nox", "o3", "pm10",
                  "pm25", "pb", "sh2", "so2", "volatileOrganicCompoundsTotal", "precipitation")

AIR_QUALITY_OBSERVED = EntityModel(
    "AirQualityObserved", "dataModel.Environment/AirQualityObserved", {
        **COMMON,
        "dateObserved": DateTime(),
        "airQualityIndex": Number(minimum=0, integer=True),
        "airQualityLevel": Text(),
        "reliability": Number(0, 1),
        **{amount: NON_NEGATIVE for amount in AIR_AMOUNTS},
        "coLevel": Text(),
        "pm1": Number(),
        "relativeHumidity": Number(0, 1),
        "temperature": Number(),
        "typeofLocation": Text(strings(("indoor", "outdoor"))),
        "windDirection": Number(-180, 180),
        "windSpeed": NON_NEGATIVE,
        "refDevice": Link(),
        "refPointOfInterest": Link(),
        "refWeatherObserved": Link(),
    }, required=("dateObserved", "location"))

WEATHER_OBSERVED = EntityModel("WeatherObserved", "dataModel.Weather/WeatherObserved", {
    **COMMON,
    "dateObserved": DateTime(),
    "temperature": Number(),
    "feelsLikeTemperature": Number(),
    "dewPoint": Number(),
    "relativeHumidity": Number(0, 1),
    "precipitation": NON_NEGATIVE,
    "atmosphericPressure": NON_NEGATIVE,
    "solarRadiation": NON_NEGATIVE,
    "illuminance": NON_NEGATIVE,
    "streamGauge": NON_NEGATIVE,
    "snowHeight": NON_NEGATIVE,
    "uVIndexMax": Number(minimum=1),
    "windDirection": Number(-180, 180),
    "windSpeed": NON_NEGATIVE,
    "refDevice": Link(),
}, required=("dateObserved", "location"))

KEY_PERFORMANCE_INDICATOR = EntityModel(
    "KeyPerformanceIndicator", "dataModel.KeyPerformanceIndicator/KeyPerformanceIndicator", {
        **COMMON,
        "category": Texts(strings((
            "actionable", "directional", "financial", "input", "lagging", "leading", "output",
            "practical", "process", "qualitative", "quantitative")), min_items=1),
        "organization": Text(),
        "process": Text(),
        "product": Text(),
        "provider": Text(),
        "businessTarget": Text(),
        "calculationFrequency": Text(strings((
            "hourly", "daily", "weekly", "monthly", "yearly", "quarterly", "bimonthly",
            "biweekly"))),
        "calculatedBy": Text(),
        "calculationMethod": Text(strings(("manual", "automatic", "semiautomatic"))),
        "calculationFormula": Text(),
        "aggregatedData": Records(Record(members={"entityType": Plain(),
                                                  "attrs": PlainList()})),
        "calculationPeriod": Record(members={"from": DateMember(), "to": DateMember()}),
        "currentStanding": Text(strings(("veryGood", "good", "fair", "bad", "veryBad"))),
        "kpiValue": Anything(),
        "effectiveSince": DateTime(),
        "dateNextCalculation": Date(),
        "dateExpires": DateTime(),
        "updatedAt": DateTime(),
        "area": Text(),
    })

CITY_DISTRICT = EntityModel("CityDistrict", "civictwin CityDistrict", {
    **COMMON,
    "location": Geo(("Polygon", "MultiPolygon")),
    "population": Number(minimum=0, integer=True),
}, required=("name", "location"))

MODELS = (BUILDING, SMART_METERING_OBSERVATION, AIR_QUALITY_OBSERVED, WEATHER_OBSERVED,
          KEY_PERFORMANCE_INDICATOR, CITY_DISTRICT)

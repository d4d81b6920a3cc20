"""The controlled vocabularies DCAT-AP asks for: EU data themes, access rights, frequencies.

Short codes (`ENVI`, `PUBLIC`, `DAILY`) and full EU Publications Office IRIs are both
accepted; the catalogue keeps and exports the IRIs.
"""

from __future__ import annotations

AUTHORITY = "http://publications.europa.eu/resource/authority/"
THEME_BASE = AUTHORITY + "data-theme/"
ACCESS_RIGHT_BASE = AUTHORITY + "access-right/"
FREQUENCY_BASE = AUTHORITY + "frequency/"
LICENCE_BASE = AUTHORITY + "licence/"
FILE_TYPE_BASE = AUTHORITY + "file-type/"
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"
NGSI_LD_SPEC = "https://www.etsi.org/deliver/etsi_gs/CIM/001_099/009/01.08.01_60/" \
    "gs_CIM009v010801p.pdf"

THEMES = {
    "AGRI": "Agriculture, fisheries, forestry and food",
    "ECON": "Economy and finance",
    "EDUC": "Education, culture and sport",
    "ENER": "Energy",
    "ENVI": "Environment",
    "GOVE": "Government and public sector",
    "HEAL": "Health",
    "INTR": "International issues",
    "JUST": "Justice, legal system and public safety",
    "OP_DATPRO": "Provisional data",
    "REGI": "Regions and cities",
    "SOCI": "Population and society",
    "TECH": "Science and technology",
    "TRAN": "Transport",
}

ACCESS_RIGHTS = {
    "PUBLIC": "Public",
    "RESTRICTED": "Restricted",
    "NON_PUBLIC": "Non-public",
}

FREQUENCIES = {
    "CONT": "Continuous", "UPDATE_CONT": "Continuously updated", "1MIN": "Every minute",
    "HOURLY": "Hourly", "DAILY": "Daily", "WEEKLY": "Weekly", "MONTHLY": "Monthly",
    "QUARTERLY": "Quarterly", "ANNUAL": "Annual", "IRREG": "Irregular", "NEVER": "Never",
    "UNKNOWN": "Unknown", "OTHER": "Other",
}


def resolve(value: str, base: str, codes: dict[str, str]) -> str | None:
    """Return the vocabulary IRI a code or IRI names, or None if it is not in `codes`."""
    code = value[len(base):] if value.startswith(base) else value
    return base + code if code in codes else None


def label(iri: str, base: str, codes: dict[str, str]) -> str:
    """Return the English label of a vocabulary IRI (its code if unknown)."""
    code = iri[len(base):] if iri.startswith(base) else iri
    return codes.get(code, code)


def theme_for(type_name: str) -> str:
    """Return the EU data theme code that an entity type's name suggests."""
    name = type_name.lower()
    for words, code in _THEME_HINTS:
        if any(w in name for w in words):
            return code
    return "TECH"


_THEME_HINTS: list[tuple[tuple[str, ...], str]] = [
    (("energy", "meter", "electric", "solar", "photovolt", "heat"), "ENER"),
    (("air", "weather", "noise", "water", "environment", "green", "waste"), "ENVI"),
    (("traffic", "parking", "vehicle", "transport", "bike", "road", "mobility"), "TRAN"),
    (("building", "district", "lot", "parcel", "city", "street", "address"), "REGI"),
    (("health",), "HEAL"),
]

"""The DCAT-AP 3.0.1 model the catalogue keeps: datasets, distributions, agents, contact points.

Plain dataclasses; `to_json`/`from_json` give the JSON form that is stored and that
`POST /catalog/datasets` and `civictwin catalog add` accept. Titles and descriptions have one
text in the dataset's `language` plus optional translations by language tag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

ORIGIN_TWIN = "twin"
ORIGIN_PUBLISHED = "published"
ORIGIN_HARVESTED = "harvested"


@dataclass
class ContactPoint:
    """A vcard:Kind to ask about a dataset."""

    name: str
    email: str | None = None
    url: str | None = None


@dataclass
class Distribution:
    """A dcat:Distribution: where and in which form the data can be had."""

    access_url: str
    id: str | None = None
    title: str | None = None
    description: str | None = None
    download_url: str | None = None
    format: str | None = None
    media_type: str | None = None
    licence: str | None = None
    access_service: str | None = None
    conforms_to: list[str] = field(default_factory=list)


@dataclass
class Dataset:
    """A dcat:Dataset and, when it is the twin's own, where its data sits in the twin."""

    id: str
    title: str
    description: str
    publisher: str
    publisher_name: str = ""
    language: str = "en"
    title_translations: dict[str, str] = field(default_factory=dict)
    description_translations: dict[str, str] = field(default_factory=dict)
    contact_point: ContactPoint | None = None
    themes: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    spatial: list[float] | None = None
    """Bounding box [west, south, east, north] in WGS 84."""
    temporal_start: str | None = None
    temporal_end: str | None = None
    issued: str | None = None
    modified: str | None = None
    licence: str | None = None
    access_rights: str | None = None
    conforms_to: list[str] = field(default_factory=list)
    frequency: str | None = None
    landing_page: str | None = None
    distributions: list[Distribution] = field(default_factory=list)
    offers: list[dict[str, Any]] = field(default_factory=list)
    ngsi_tenant: str = ""
    ngsi_types: list[str] = field(default_factory=list)
    temporal: bool = False
    origin: str = ORIGIN_PUBLISHED
    source: str | None = None
    """For a harvested dataset, the catalogue URL it came from."""

    def to_json(self) -> dict[str, Any]:
        """Return the dataset as plain JSON values."""
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Dataset:
        """Build a dataset from `to_json` output (already validated)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in known}
        contact = values.get("contact_point")
        if isinstance(contact, dict):
            values["contact_point"] = ContactPoint(**_only(ContactPoint, contact))
        values["distributions"] = [Distribution(**_only(Distribution, d))
                                   for d in values.get("distributions") or []]
        return cls(**values)

    def all_titles(self) -> dict[str, str]:
        """Return the title by language tag."""
        return {self.language: self.title, **self.title_translations}

    def all_descriptions(self) -> dict[str, str]:
        """Return the description by language tag."""
        return {self.language: self.description, **self.description_translations}


def _only(kind: type, doc: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(kind)}
    return {k: v for k, v in doc.items() if k in known}


@dataclass
class DataService:
    """A dcat:DataService: an API that serves some of the catalogue's datasets."""

    id: str
    title: str
    endpoint_url: str
    description: str = ""
    endpoint_description: str | None = None
    serves_dataset: list[str] = field(default_factory=list)
    conforms_to: list[str] = field(default_factory=list)
    licence: str | None = None
    access_rights: str | None = None
    publisher: str = ""
    publisher_name: str = ""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with a dataset: which field, and what."""

    field: str
    problem: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem}"

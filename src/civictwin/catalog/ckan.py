"""The catalogue seen as CKAN: datasets as packages, publishers as organisations, search.

CKAN clients (ckanapi, harvesters, portals) read packages with `package_search` /
`package_show`. Search runs over the tenant's datasets in memory (a catalogue holds
hundreds to a few thousand datasets): free text over title, notes, tags and organisation,
Solr-style `field:value` filters (AND, `-` negates, quotes allowed), sort and facets.
"""

from __future__ import annotations

import re
import shlex
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from civictwin.catalog import vocab
from civictwin.catalog.model import Dataset

FACETABLE = ("organization", "tags", "groups", "res_format", "license_id", "res_mimetype",
             "access_rights", "origin")
FILTERABLE = (*FACETABLE, "name", "id", "title", "uri")
SORTABLE = {"score": None, "metadata_modified": "metadata_modified",
            "metadata_created": "metadata_created", "name": "name",
            "title_string": "title", "title": "title"}
OPEN_LICENCES = ("CC0", "CC_BY", "CC_BYSA", "ODBL", "ODC_BY", "PDDL")


class SearchQueryError(ValueError):
    """A search parameter that cannot be understood (CKAN's Search Query Error)."""


@dataclass(frozen=True)
class SearchResult:
    """What package_search answers."""

    count: int
    results: list[dict[str, Any]]
    facets: dict[str, dict[str, int]]
    sort: str


def slug(text: str) -> str:
    """Return a CKAN name (2-100 of a-z, 0-9, - and _) for a text."""
    name = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return (name or "x")[:100].ljust(2, "x")


def package_name(dataset: Dataset) -> str:
    """Return the dataset's CKAN name: its IRI's last part, made unique by a short hash."""
    last = re.split(r"[/#:]", dataset.id.rstrip("/#"))[-1]
    digest = uuid.uuid5(uuid.NAMESPACE_URL, dataset.id).hex[:8]
    return slug(f"{last[:80]}-{digest}")


def package_id(dataset: Dataset) -> str:
    """Return the dataset's CKAN id: a UUID derived from its IRI."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, dataset.id))


def organization(dataset: Dataset) -> dict[str, Any]:
    """Return the CKAN organisation of the dataset's publisher."""
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, dataset.publisher)),
            "name": slug(dataset.publisher.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
                         or dataset.publisher),
            "title": dataset.publisher_name or dataset.publisher, "type": "organization",
            "description": "", "image_url": "", "is_organization": True,
            "approval_status": "approved", "state": "active", "uri": dataset.publisher}


def package(dataset: Dataset) -> dict[str, Any]:
    """Return the dataset as a CKAN package dict."""
    pid, org = package_id(dataset), organization(dataset)
    licence = dataset.licence or ""
    licence_code = licence.rsplit("/", 1)[-1] if licence else "notspecified"
    contact = dataset.contact_point
    return {
        "id": pid, "name": package_name(dataset), "title": dataset.title,
        "notes": dataset.description, "type": "dataset", "state": "active", "private": False,
        "url": dataset.landing_page or "", "version": None, "author": None,
        "author_email": None, "maintainer": contact.name if contact else None,
        "maintainer_email": contact.email if contact else None,
        "license_id": licence_code, "license_title": licence_code.replace("_", " "),
        "license_url": licence or None,
        "isopen": any(licence_code.startswith(code) for code in OPEN_LICENCES),
        "metadata_created": dataset.issued or dataset.modified,
        "metadata_modified": dataset.modified or dataset.issued,
        "owner_org": org["id"], "organization": org,
        "tags": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tag:{k}")), "name": k,
                  "display_name": k, "state": "active", "vocabulary_id": None}
                 for k in dataset.keywords],
        "num_tags": len(dataset.keywords),
        "groups": [_group(theme) for theme in dataset.themes],
        "resources": [_resource(dataset, pid, n) for n in range(len(dataset.distributions))],
        "num_resources": len(dataset.distributions),
        "extras": _extras(dataset),
    }


def _group(theme: str) -> dict[str, Any]:
    code = theme.rsplit("/", 1)[-1]
    title = vocab.label(theme, vocab.THEME_BASE, vocab.THEMES)
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, theme)), "name": code.lower(),
            "title": title, "display_name": title, "description": "", "image_display_url": "",
            "uri": theme}


def _resource(dataset: Dataset, pid: str, n: int) -> dict[str, Any]:
    dist = dataset.distributions[n]
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, dist.id or f"{dataset.id}#{n}")),
            "package_id": pid, "position": n, "state": "active",
            "name": dist.title or f"Distribution {n + 1}", "description": dist.description or "",
            "url": dist.download_url or dist.access_url, "access_url": dist.access_url,
            "download_url": dist.download_url, "format": _format(dist.format),
            "mimetype": dist.media_type, "license": dist.licence, "uri": dist.id}


def _format(fmt: str | None) -> str:
    return fmt.rsplit("/", 1)[-1].replace("_", "-") if fmt else ""


def _extras(dataset: Dataset) -> list[dict[str, str]]:
    values = {"uri": dataset.id, "access_rights": dataset.access_rights,
              "frequency": dataset.frequency, "temporal_start": dataset.temporal_start,
              "temporal_end": dataset.temporal_end, "language": dataset.language,
              "origin": dataset.origin, "harvest_source": dataset.source,
              "ngsi_types": " ".join(dataset.ngsi_types) or None}
    if dataset.spatial:
        w, s, e, n = dataset.spatial
        values["spatial"] = ('{"type":"Polygon","coordinates":[[' +
                             f"[{w},{s}],[{e},{s}],[{e},{n}],[{w},{n}],[{w},{s}]]]}}")
    return [{"key": k, "value": v} for k, v in values.items() if v]


def field_values(pkg: dict[str, Any], field: str) -> list[str]:
    """Return the values a package has for a search or facet field."""
    if field == "organization":
        return [pkg["organization"]["name"]]
    if field == "tags":
        return [t["name"] for t in pkg["tags"]]
    if field == "groups":
        return [g["name"] for g in pkg["groups"]]
    if field == "res_format":
        return [r["format"] for r in pkg["resources"] if r["format"]]
    if field == "res_mimetype":
        return [r["mimetype"] for r in pkg["resources"] if r["mimetype"]]
    if field in ("access_rights", "origin", "uri"):
        extras = {e["key"]: e["value"] for e in pkg["extras"]}
        value = extras.get(field)
        return [value.rsplit("/", 1)[-1] if field == "access_rights" else value] if value else []
    value = pkg.get(field)
    return [str(value)] if value is not None else []


def search(datasets: list[Dataset], q: str = "", fq: str = "", rows: int = 10,
           start: int = 0, sort: str = "", facet_fields: tuple[str, ...] = (),
           facet_limit: int = 50, facet_mincount: int = 1) -> SearchResult:
    """Answer package_search over `datasets`."""
    terms, filters = _parse(q, free_text=True)
    filters += _parse(fq, free_text=False)[1]
    keys = _sort_keys(sort or "score desc, metadata_modified desc")
    for field in facet_fields:
        if field not in FACETABLE:
            raise SearchQueryError(f"cannot facet on {field!r} (one of {', '.join(FACETABLE)})")
    scored = []
    for pkg in (package(d) for d in datasets):
        score = _score(pkg, terms)
        if score is None or not all(_matches(pkg, f) for f in filters):
            continue
        scored.append((score, pkg))
    for key, descending in reversed(keys):
        scored.sort(key=lambda sp: _sort_value(sp, key), reverse=descending)
    facets = {}
    for field in facet_fields:
        counts = Counter(v for _, pkg in scored for v in set(field_values(pkg, field)))
        kept = [(v, c) for v, c in counts.most_common() if c >= facet_mincount]
        facets[field] = dict(kept[:facet_limit] if facet_limit >= 0 else kept)
    page = [pkg for _, pkg in scored[start:start + rows]]
    shown = ", ".join(f"{k} {'desc' if d else 'asc'}" for k, d in keys)
    return SearchResult(len(scored), page, facets, shown)


def _parse(text: str, free_text: bool) -> tuple[list[str], list[tuple[str, str, bool]]]:
    """Split a q / fq string into free-text terms and (field, value, negated) filters."""
    text = text.strip()
    if text in ("", "*:*"):
        return [], []
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise SearchQueryError(f"cannot parse {text!r}: {exc}") from exc
    terms: list[str] = []
    filters: list[tuple[str, str, bool]] = []
    for token in tokens:
        negated = token.startswith("-")
        token = token.lstrip("+-")
        if token.upper() in ("AND", "OR") or not token:
            continue
        field, colon, value = token.partition(":")
        if colon and field in FILTERABLE:
            filters.append((field, value.strip('"'), negated))
        elif colon and (not free_text or (field.isidentifier() and value)):
            raise SearchQueryError(f"unknown search field {field!r} (one of "
                                   f"{', '.join(FILTERABLE)})")
        elif not free_text:
            raise SearchQueryError(f"fq needs field:value terms, got {token!r}")
        else:
            terms.append(token.lower())
    return terms, filters


def _matches(pkg: dict[str, Any], condition: tuple[str, str, bool]) -> bool:
    field, value, negated = condition
    values = field_values(pkg, field)
    if value.endswith("*"):
        found = any(v.lower().startswith(value[:-1].lower()) for v in values)
    else:
        found = any(v.lower() == value.lower() for v in values)
    return found != negated


def _score(pkg: dict[str, Any], terms: list[str]) -> float | None:
    if not terms:
        return 1.0
    title = pkg["title"].lower()
    body = " ".join([pkg["notes"] or "", pkg["organization"]["title"],
                     *(t["name"] for t in pkg["tags"]),
                     *(g["title"] for g in pkg["groups"])]).lower()
    score = 0.0
    for term in terms:
        hits = 2 * title.count(term) + body.count(term)
        if not hits:
            return None
        score += hits
    return score


def _sort_keys(sort: str) -> list[tuple[str, bool]]:
    keys = []
    for part in sort.split(","):
        words = part.split()
        if not words:
            continue
        if words[0] not in SORTABLE or len(words) > 2 or (
                len(words) == 2 and words[1] not in ("asc", "desc")):
            raise SearchQueryError(f"cannot sort by {part.strip()!r} (fields: "
                                   f"{', '.join(SORTABLE)}; asc or desc)")
        keys.append((words[0], len(words) == 2 and words[1] == "desc"))
    return keys


def _sort_value(scored: tuple[float, dict[str, Any]], key: str) -> Any:
    score, pkg = scored
    column = SORTABLE[key]
    if column is None:
        return score
    return str(pkg.get(column) or "").lower()

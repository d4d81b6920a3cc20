"""A CKAN-compatible action API at `/api/3/action/` and `/api/action/` (read-only).

Answers in CKAN's envelope: `{"help", "success": true, "result"}`, or `success: false` with a
CKAN error object (`__type` Not Found Error, Validation Error, Search Query Error) and the
status CKAN uses (404, 409, 400), so CKAN clients such as ckanapi raise their usual errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from civictwin import __version__
from civictwin.catalog import ckan
from civictwin.catalog.catalogue import Catalogue
from civictwin.catalog.http import catalogue_of
from civictwin.catalog.model import Dataset
from civictwin.config import Settings
from civictwin.ngsild.http import tenant_of
from civictwin.openapi import CKAN_QUERY, OBJECT, described

router = APIRouter(tags=["CKAN action API"])
CKAN_VERSION = "2.10.0"
MAX_ROWS = 1000


class ActionError(Exception):
    """A CKAN action error: HTTP status and the CKAN error object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", ""))
        self.status = status
        self.error = error


def not_found(what: str) -> ActionError:
    """Return CKAN's Not Found Error."""
    return ActionError(404, {"__type": "Not Found Error", "message": f"Not found: {what}"})


def invalid(field: str, problem: str) -> ActionError:
    """Return CKAN's Validation Error for one field."""
    return ActionError(409, {"__type": "Validation Error", field: [problem]})


async def ckan_action(request: Request, action: str) -> JSONResponse:
    """Run a CKAN action with the query parameters and JSON body as its data dict."""
    base = str(request.base_url).rstrip("/")
    help_url = f"{base}/api/3/action/help_show?name={action}"
    try:
        params = await _data_dict(request)
        function = ACTIONS.get(action)
        if function is None:
            raise ActionError(400, {"__type": "Bad Request",
                                    "message": f"Bad request - Action name not known: {action}"})
        context = Context(catalogue_of(request), tenant_of(request),
                          request.app.state.settings, base)
        result = await run_in_threadpool(function, context, params)
    except ActionError as exc:
        return JSONResponse({"help": help_url, "success": False, "error": exc.error},
                            status_code=exc.status)
    return JSONResponse({"help": help_url, "success": True, "result": result})


for _path, _shown in (("/api/3/action/{action}", True), ("/api/action/{action}", False)):
    for _method in ("GET", "POST"):
        router.add_api_route(_path, ckan_action, methods=[_method], include_in_schema=_shown,
                             summary=f"CKAN action ({_method})",
                             operation_id=f"ckan_action_{_method.lower()}_{int(_shown)}",
                             openapi_extra=described(*CKAN_QUERY) if _method == "GET" else
                             described(body=OBJECT, required=False))


async def _data_dict(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        params[key] = values if len(values) > 1 else values[0]
    if request.method == "POST":
        body = await request.body()
        if body.strip():
            try:
                posted = json.loads(body)
            except ValueError:
                raise ActionError(400, {"__type": "Bad Request", "message":
                                        "Bad request - JSON Error: the body is not JSON"}) from None
            if not isinstance(posted, dict):
                raise ActionError(400, {"__type": "Bad Request", "message":
                                        "Bad request - JSON Error: expected an object"})
            params.update(posted)
    return params


class Context:
    """What every action needs: the catalogue, the tenant, settings and the site URL."""

    def __init__(self, catalogue: Catalogue, tenant: str, settings: Settings,
                 site: str) -> None:
        self.catalogue, self.tenant, self.settings, self.site = (catalogue, tenant, settings,
                                                                 site)

    def datasets(self) -> list[Dataset]:
        """Return every dataset of the tenant."""
        return self.catalogue.all_datasets(self.tenant)


def package_search(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """Search packages: q, fq, rows, start, sort, facet.field, facet.limit, facet.mincount."""
    fields = _facet_fields(p.get("facet.field"))
    try:
        found = ckan.search(
            ctx.datasets(), q=str(p.get("q") or ""), fq=str(p.get("fq") or ""),
            rows=min(_int(p, "rows", 10), MAX_ROWS), start=_int(p, "start", 0),
            sort=str(p.get("sort") or ""), facet_fields=fields,
            facet_limit=_int(p, "facet.limit", 50, minimum=-1),
            facet_mincount=_int(p, "facet.mincount", 1))
    except ckan.SearchQueryError as exc:
        raise ActionError(409, {"__type": "Search Query Error",
                                "message": f"Search Query is invalid: {exc}"}) from None
    search_facets = {field: {"title": field, "items": [
        {"name": name, "display_name": name, "count": count}
        for name, count in counts.items()]} for field, counts in found.facets.items()}
    return {"count": found.count, "sort": found.sort, "results": found.results,
            "facets": found.facets, "search_facets": search_facets}


def package_show(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """Return one package by CKAN id, CKAN name or dataset IRI."""
    key = p.get("id") or p.get("name_or_id")
    if not key:
        raise invalid("id", "Missing value")
    for dataset in ctx.datasets():
        if key in (dataset.id, ckan.package_id(dataset), ckan.package_name(dataset)):
            return ckan.package(dataset)
    raise not_found(f"package {key}")


def package_list(ctx: Context, p: dict[str, Any]) -> list[str]:
    """Return the names of every package, sorted."""
    names = sorted(ckan.package_name(d) for d in ctx.datasets())
    offset = _int(p, "offset", 0)
    limit = p.get("limit")
    return names[offset:offset + _int(p, "limit", 0)] if limit is not None else names[offset:]


def organization_list(ctx: Context, p: dict[str, Any]) -> list[Any]:
    """Return the publishers as organisations: names, or dicts with `all_fields`."""
    orgs: dict[str, dict[str, Any]] = {}
    for dataset in ctx.datasets():
        org = ckan.organization(dataset)
        orgs.setdefault(org["name"], {**org, "package_count": 0})["package_count"] += 1
    wanted = p.get("organizations")
    if wanted:
        names = wanted if isinstance(wanted, list) else str(wanted).split(",")
        orgs = {k: v for k, v in orgs.items() if k in names}
    sort = str(p.get("sort") or "name asc").split()
    if sort[0] not in ("name", "title", "package_count"):
        raise invalid("sort", f"cannot sort by {sort[0]!r} (name, title or package_count)")
    listed = sorted(orgs.values(), key=lambda o: o[sort[0]],
                    reverse=len(sort) > 1 and sort[1] == "desc")
    offset = _int(p, "offset", 0)
    listed = listed[offset:offset + _int(p, "limit", len(listed))]
    return listed if _bool(p.get("all_fields")) else [o["name"] for o in listed]


def status_show(ctx: Context, p: dict[str, Any]) -> dict[str, Any]:
    """Describe the site as CKAN does; `ckan_version` is the CKAN API level it follows."""
    return {"site_title": ctx.settings.catalog_title, "site_url": ctx.site,
            "site_description": "civictwin catalogue (CKAN-compatible, read-only)",
            "ckan_version": CKAN_VERSION, "civictwin_version": __version__,
            "error_emails_to": None, "locale_default": "en", "extensions": ["civictwin"]}


ACTIONS: dict[str, Callable[[Context, dict[str, Any]], Any]] = {
    "package_search": package_search, "package_show": package_show,
    "package_list": package_list, "organization_list": organization_list,
    "status_show": status_show,
}


def _facet_fields(value: Any) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid("facet.field", "expected a JSON list of field names")
    return tuple(value)


def _int(p: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    value = p.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(name, "Invalid integer") from None
    if number < minimum:
        raise invalid(name, f"Must be a natural number (at least {minimum})")
    return number


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")

"""HTTP plumbing shared by the NGSI-LD routers: tenant, @context, bodies, content negotiation."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from civictwin.errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    UnsupportedMediaType,
)
from civictwin.ngsild.broker import ContextBroker
from civictwin.ngsild.jsonld import CORE_CONTEXT_URL, Context, link_header, parse_link_header

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
_TENANT = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a request body may have (NGSI-LD needs about 8)."""


@dataclass(frozen=True)
class Call:
    """What every NGSI-LD request carries: the tenant and the @context it speaks."""

    tenant: str
    raw_context: Any
    context: Context
    body: Any


def broker(request: Request) -> ContextBroker:
    """Return the app's ContextBroker."""
    found: ContextBroker = request.app.state.broker
    return found


def tenant_of(request: Request) -> str:
    """Return the tenant named by the NGSILD-Tenant header ('' for the default tenant)."""
    tenant = request.headers.get("NGSILD-Tenant", "")
    if tenant and not _TENANT.match(tenant):
        raise BadRequestData(f"NGSILD-Tenant {tenant!r} is not a valid tenant name")
    return tenant


async def read_call(request: Request) -> Call:
    """Parse tenant, body and @context of a request (ETSI GS CIM 009 6.3.5)."""
    tenant = tenant_of(request)
    body = await read_body(request)
    link = parse_link_header(request.headers.get("Link"))
    media = request.headers.get("Content-Type", JSON).split(";")[0].strip().lower()
    raw: Any = link
    if body is not None:
        if media == JSON_LD:
            if link is not None:
                raise InvalidRequest("a JSON-LD body must not come with a Link @context header")
            raw = _ld_context(body)
        elif media in (JSON, MERGE_PATCH):
            if _has_context(body):
                raise BadRequestData("@context in an application/json body: send it as "
                                     "application/ld+json or in a Link header")
        else:
            raise UnsupportedMediaType(f"Content-Type {media!r} is not supported; use "
                                       "application/json or application/ld+json")
    context = broker(request).context(raw)
    return Call(tenant, raw, context, body)


async def read_body(request: Request) -> Any:
    """Return the request's JSON body (None if empty), within the size limit."""
    if request.method in ("GET", "DELETE", "HEAD"):
        return None
    limit = request.app.state.settings.max_body_bytes
    declared = request.headers.get("Content-Length")
    if declared and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BadRequestData(f"request body larger than {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise BadRequestData(f"request body larger than {limit} bytes")
    if not raw.strip():
        return None
    too_deep = BadRequestData(f"the request body nests arrays and objects deeper than "
                              f"{MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise too_deep from None
    if _too_deep(body):
        raise too_deep
    return body


def _too_deep(value: Any) -> bool:
    """Whether a parsed JSON value nests deeper than MAX_JSON_DEPTH (without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item \
            if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth >= MAX_JSON_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def _has_context(body: Any) -> bool:
    items = body if isinstance(body, list) else [body]
    return any(isinstance(i, dict) and "@context" in i for i in items)


def _ld_context(body: Any) -> Any:
    items = body if isinstance(body, list) else [body]
    contexts = [i.get("@context") for i in items if isinstance(i, dict)]
    if not contexts or any(c is None for c in contexts):
        raise BadRequestData("an application/ld+json body must carry an @context member")
    if any(c != contexts[0] for c in contexts):
        raise BadRequestData("every item of a JSON-LD batch must carry the same @context")
    return contexts[0]


def accepted(request: Request, geo: bool = True) -> str:
    """Return the response media type the Accept header asks for (6.3.6)."""
    header = request.headers.get("Accept", "*/*")
    offered = [JSON, JSON_LD] + ([GEO_JSON] if geo else [])
    best: tuple[float, str] | None = None
    for position, part in enumerate(header.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        choice = _match(media, offered)
        if choice and quality > 0 and (best is None or quality > best[0]):
            best = (quality - position * 1e-6, choice)
    if best is None:
        raise NotAcceptable(f"Accept {header!r}: this endpoint offers {', '.join(offered)}")
    return best[1]


def _match(media: str, offered: list[str]) -> str | None:
    if media in ("*/*", "application/*"):
        return JSON
    return media if media in offered else None


def respond(call: Call, media: str, body: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> Response:
    """Serialise an NGSI-LD answer with the @context where the media type wants it."""
    out_headers = dict(headers or {})
    context_url = call.raw_context if isinstance(call.raw_context, str) else CORE_CONTEXT_URL
    if media == JSON_LD:
        context = call.raw_context if call.raw_context is not None else CORE_CONTEXT_URL
        if isinstance(body, list):
            body = [{"@context": context, **item} for item in body]
        elif isinstance(body, dict) and body.get("type") != "FeatureCollection":
            body = {"@context": context, **body}
    else:
        out_headers["Link"] = link_header(context_url)
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(content, status_code=status, media_type=media, headers=out_headers)

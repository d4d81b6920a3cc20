"""The algorithm register over HTTP: /algorithms as JSON, or as an HTML page for people."""

from __future__ import annotations

from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from civictwin.analytics.algorithms import Algorithm, entries, entry
from civictwin.errors import ResourceNotFound

router = APIRouter(prefix="/algorithms", tags=["Algorithm register (MIM5)"])
_LABELS = (("description_short", "In short"), ("purpose", "Purpose and impact"),
           ("kind", "Kind"), ("status", "Status"), ("owner", "Responsible"),
           ("data_used", "Data used"), ("method", "Method"),
           ("limits_risks", "Limits and risks"), ("risk_management", "Risk management"),
           ("human_oversight", "Human oversight"), ("legal_basis", "Legal basis"),
           ("contact", "Contact"), ("version", "Version"), ("module", "Code"))


@router.get("")
def list_algorithms(request: Request) -> Response:
    """List every registered algorithm (HTML when the client prefers it)."""
    found = entries()
    if _wants_html(request):
        return HTMLResponse(_page("Algorithm register", found))
    return JSONResponse({"algorithms": [a.to_json() for a in found], "count": len(found)})


@router.get("/{algorithm_id}")
def get_algorithm(algorithm_id: str, request: Request) -> Response:
    """Describe one registered algorithm."""
    found = entry(algorithm_id)
    if found is None:
        raise ResourceNotFound(f"no algorithm {algorithm_id!r} in the register")
    if _wants_html(request):
        return HTMLResponse(_page(found.name, [found]))
    return JSONResponse(found.to_json())


def _wants_html(request: Request) -> bool:
    if request.query_params.get("format") in ("html", "json"):
        return request.query_params["format"] == "html"
    accept = request.headers.get("accept", "").lower()
    if "text/html" not in accept:
        return False
    return "application/json" not in accept or (
        accept.index("text/html") < accept.index("application/json"))


def _page(title: str, algorithms: list[Algorithm]) -> str:
    sections = "\n".join(_section(a) for a in algorithms)
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)} — civictwin</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
            "dt{font-weight:bold;margin-top:.6em}section{border-top:1px solid #ccc}</style>"
            f"</head><body><h1>{escape(title)}</h1>"
            f"<p>{len(algorithms)} algorithm(s) that this twin runs (OASC MIM5).</p>"
            f"{sections}</body></html>")


def _section(algorithm: Algorithm) -> str:
    body = algorithm.to_json()
    items = []
    for key, label in _LABELS:
        value = body[key]
        text = ("<ul>" + "".join(f"<li>{escape(v)}</li>" for v in value) + "</ul>"
                if isinstance(value, list) else escape(str(value)))
        items.append(f"<dt>{label}</dt><dd>{text}</dd>")
    return (f"<section id=\"{escape(algorithm.id)}\"><h2>{escape(algorithm.name)}</h2>"
            f"<dl>{''.join(items)}</dl></section>")

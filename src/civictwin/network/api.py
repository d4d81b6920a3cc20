"""`/network`: the city network — peers, cross-city answers, benchmarks, and what peers ask.

Two audiences: this twin's operator (peers, asking the network, answers, the benchmark) and
peer cities (a question under an agreement, the indicators a city shares), who authenticate
with their signed tokens like any Dataspace Protocol message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from civictwin.config import Settings
from civictwin.dataspace.auth import current_participant
from civictwin.dataspace.participants import Participant
from civictwin.errors import Forbidden, ResourceNotFound
from civictwin.network import benchmark as bench
from civictwin.network import question
from civictwin.network.peers import peers
from civictwin.ngsild.http import read_body
from civictwin.store import Store
from civictwin.store.network import NetworkStore

router = APIRouter(prefix="/network", tags=["City network"])
Sender = Annotated[Participant, Depends(current_participant)]
Body = Annotated[Any, Depends(read_body)]


def _state(request: Request) -> tuple[Store, Settings]:
    return request.app.state.store, request.app.state.settings


def _operator(who: Participant) -> None:
    if not who.operator:
        raise Forbidden(f"participant {who.id} is not an operator of this twin")


def _peer_or_operator(who: Participant, settings: Settings) -> None:
    if not who.operator and who.id not in settings.network_peers:
        raise Forbidden(f"participant {who.id} is not a city of this twin's network")


@router.get("/peers")
def list_peers(request: Request, who: Sender) -> dict[str, Any]:
    """List the peer cities of the network."""
    _operator(who)
    store, settings = _state(request)
    return {"peers": [p.to_json() for p in peers(store, settings)]}


@router.post("/answers", status_code=201)
def ask_network(request: Request, who: Sender, body: Body) -> Response:
    """Ask every city of the network for its energy per m² by band; combine and save."""
    _operator(who)
    store, settings = _state(request)
    doc = body if isinstance(body, dict) else {}
    found = question.ask(store, settings, str(doc.get("by") or "construction_period"),
                         str(doc.get("start") or ""), str(doc.get("end") or ""))
    return JSONResponse(found, status_code=201)


@router.get("/answers")
def list_answers(request: Request, who: Sender,
                 limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
    """List the saved network answers, newest first."""
    _operator(who)
    return {"answers": question.answers(_state(request)[0], limit)}


@router.get("/answers/{answer_id}")
def get_answer(answer_id: str, request: Request, who: Sender) -> dict[str, Any]:
    """Return one saved network answer."""
    _operator(who)
    found = NetworkStore(_state(request)[0]).answer(answer_id)
    if found is None:
        raise ResourceNotFound(f"no network answer {answer_id}")
    return found


@router.get("/benchmark")
def get_benchmark(request: Request, who: Sender,
                  format: Annotated[str, Query(pattern="^(json|csv)$")] = "json") -> Response:
    """Every city's indicators side by side with their grades (JSON, or CSV)."""
    _operator(who)
    store, settings = _state(request)
    table = bench.benchmark(store, settings, request.app.state.broker)
    if format == "csv":
        return Response(bench.to_csv(table), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="benchmark.csv"'})
    return JSONResponse(table)


# -- what peer cities ask ---------------------------------------------------------------------
@router.post(f"/questions/{question.QUESTION}")
def answer_peer(request: Request, who: Sender, body: Body) -> dict[str, Any]:
    """Answer a peer city's question under its agreement: this city's bands, aggregates only."""
    from civictwin.network.answer import peer_answer

    store, settings = _state(request)
    return peer_answer(store, settings, who, body)


@router.get("/indicators")
def shared_indicators(request: Request, who: Sender) -> dict[str, Any]:
    """Return the indicators this city shares with the cities of its network."""
    _, settings = _state(request)
    _peer_or_operator(who, settings)
    return bench.shared_indicators(request.app.state.broker, settings)

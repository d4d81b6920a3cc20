"""Dataspace Protocol 2025-1 over HTTPS: version, catalogue, negotiation and transfer endpoints.

Provider and consumer endpoints share `/dsp/negotiations/{pid}/…` and `/dsp/transfers/{pid}/…`;
the pid says which side this twin is. Errors are the protocol's own error messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import JSONResponse, Response

from civictwin.config import Settings
from civictwin.dataspace.auth import current_participant
from civictwin.dataspace.dsp_catalog import dsp_catalog, dsp_dataset, find_dataset, offered_datasets
from civictwin.dataspace.dsp_messages import DSPACE_CONTEXT, VERSION, check, message
from civictwin.dataspace.negotiation import FollowUp, Negotiation, Negotiations
from civictwin.dataspace.participants import Participant
from civictwin.dataspace.transfer import COMPLETE, START, SUSPEND, TERMINATE, Transfer, Transfers
from civictwin.errors import CivicTwinError
from civictwin.ngsild.http import read_body
from civictwin.openapi import DSP_MESSAGE, described

log = logging.getLogger("civictwin.dsp")
router = APIRouter(tags=["Dataspace Protocol"])
Sender = Annotated[Participant, Depends(current_participant)]
Body = Annotated[Any, Depends(read_body)]


def _settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def _negotiations(request: Request) -> Negotiations:
    return Negotiations(request.app.state.store, _settings(request))


def _transfers(request: Request) -> Transfers:
    return Transfers(request.app.state.store, _settings(request))


def _error(kind: str, exc: CivicTwinError, pids: dict[str, str]) -> Response:
    body = message(kind, code=exc.problem, reason=[exc.detail], **pids)
    return JSONResponse(body, status_code=exc.status)


def _later(tasks: BackgroundTasks, step: FollowUp) -> None:
    if step is not None:
        tasks.add_task(_run_logged, step)


def _run_logged(step: Callable[[], object]) -> None:
    try:
        step()
    except CivicTwinError as exc:
        log.warning("automatic data space step failed: %s", exc.detail)


@router.get("/.well-known/dspace-version")
def dspace_version(request: Request) -> dict[str, Any]:
    """List the protocol versions this connector speaks and where (common 4.3)."""
    settings = _settings(request)
    return {"protocolVersions": [{"version": VERSION, "path": "/dsp", "binding": "HTTPS",
                                  "serviceId": f"{settings.base_url()}/dsp",
                                  "auth": {"protocol": "civictwin-bearer", "version": "1",
                                           "profile": ["api-key", "jwt-eddsa", "jwt-es256"]}}]}


# -- catalogue ----------------------------------------------------------------------------
@router.post("/dsp/catalog/request",
             openapi_extra=described(body=DSP_MESSAGE))
def catalog_request(request: Request, sender: Sender, body: Body) -> Response:
    """Answer a CatalogRequestMessage with the catalogue of offered datasets."""
    try:
        check(body, "CatalogRequestMessage")
        settings = _settings(request)
        return JSONResponse(dsp_catalog(settings, offered_datasets(request.app.state.store,
                                                                   settings)))
    except CivicTwinError as exc:
        return _error("CatalogError", exc, {})


@router.get("/dsp/catalog/datasets/{dataset_id:path}")
def catalog_dataset(dataset_id: str, request: Request, sender: Sender) -> Response:
    """Return one offered dataset with its offers."""
    try:
        settings = _settings(request)
        offered = find_dataset(request.app.state.store, settings, dataset_id)
        return JSONResponse(dsp_dataset(settings, offered))
    except CivicTwinError as exc:
        return _error("CatalogError", exc, {})


# -- contract negotiation -------------------------------------------------------------------
def _negotiation_answer(request: Request, tasks: BackgroundTasks, pid: str | None,
                        step: Callable[[Negotiations], tuple[Negotiation, FollowUp]],
                        status: int = 200) -> Response:
    try:
        found, follow = step(_negotiations(request))
    except CivicTwinError as exc:
        pids = {"providerPid": pid or "", "consumerPid": pid or ""}
        return _error("ContractNegotiationError", exc, pids)
    _later(tasks, follow)
    return JSONResponse(found.to_dsp(), status_code=status)


@router.get("/dsp/negotiations/{pid}")
def get_negotiation(pid: str, request: Request, tasks: BackgroundTasks,
                    sender: Sender) -> Response:
    """Return a contract negotiation the sender takes part in."""
    return _negotiation_answer(request, tasks, pid, lambda n: (n.seen_by(pid, sender), None))


@router.post("/dsp/negotiations/request", status_code=201,
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_request(request: Request, tasks: BackgroundTasks, sender: Sender,
                        body: Body) -> Response:
    """Start a negotiation as provider: a consumer's first ContractRequestMessage."""
    return _negotiation_answer(request, tasks, None,
                               lambda n: n.receive_request(sender, body), 201)


@router.post("/dsp/negotiations/offers", status_code=201,
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_offer(request: Request, tasks: BackgroundTasks, sender: Sender,
                      body: Body) -> Response:
    """Start a negotiation as consumer: a provider's first ContractOfferMessage."""
    return _negotiation_answer(request, tasks, None, lambda n: n.receive_offer(sender, body), 201)


@router.post("/dsp/negotiations/{pid}/request",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_counter_request(pid: str, request: Request, tasks: BackgroundTasks,
                                sender: Sender, body: Body) -> Response:
    """Take a consumer's counter-request."""
    return _negotiation_answer(request, tasks, pid,
                               lambda n: n.receive_request(sender, body, pid))


@router.post("/dsp/negotiations/{pid}/offers",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_counter_offer(pid: str, request: Request, tasks: BackgroundTasks,
                              sender: Sender, body: Body) -> Response:
    """Take a provider's counter-offer."""
    return _negotiation_answer(request, tasks, pid, lambda n: n.receive_offer(sender, body, pid))


@router.post("/dsp/negotiations/{pid}/events",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_event(pid: str, request: Request, tasks: BackgroundTasks, sender: Sender,
                      body: Body) -> Response:
    """Take an ACCEPTED (to the provider) or FINALIZED (to the consumer) event."""
    return _negotiation_answer(request, tasks, pid, lambda n: n.receive_event(sender, pid, body))


@router.post("/dsp/negotiations/{pid}/agreement",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_agreement(pid: str, request: Request, tasks: BackgroundTasks, sender: Sender,
                          body: Body) -> Response:
    """Take the provider's agreement (consumer side)."""
    return _negotiation_answer(request, tasks, pid,
                               lambda n: n.receive_agreement(sender, pid, body))


@router.post("/dsp/negotiations/{pid}/agreement/verification",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_verification(pid: str, request: Request, tasks: BackgroundTasks,
                             sender: Sender, body: Body) -> Response:
    """Take the consumer's verification of the agreement (provider side)."""
    return _negotiation_answer(request, tasks, pid,
                               lambda n: n.receive_verification(sender, pid, body))


@router.post("/dsp/negotiations/{pid}/termination",
             openapi_extra=described(body=DSP_MESSAGE))
def negotiation_termination(pid: str, request: Request, tasks: BackgroundTasks,
                            sender: Sender, body: Body) -> Response:
    """Take the other side's termination."""
    return _negotiation_answer(request, tasks, pid,
                               lambda n: n.receive_termination(sender, pid, body))


# -- transfer process -------------------------------------------------------------------------
def _transfer_answer(request: Request, pid: str | None, step: Callable[[Transfers], Transfer],
                     status: int = 200, tasks: BackgroundTasks | None = None) -> Response:
    transfers = _transfers(request)
    try:
        found = step(transfers)
    except CivicTwinError as exc:
        return _error("TransferError", exc, {"providerPid": pid or "", "consumerPid": pid or ""})
    if tasks is not None:
        _later(tasks, lambda: transfers.start(found.pid))
    return JSONResponse(found.to_dsp(), status_code=status)


@router.get("/dsp/transfers/{pid}")
def get_transfer(pid: str, request: Request, sender: Sender) -> Response:
    """Return a transfer process the sender takes part in."""
    return _transfer_answer(request, pid, lambda t: t.seen_by(pid, sender))


@router.post("/dsp/transfers/request", status_code=201,
             openapi_extra=described(body=DSP_MESSAGE))
def transfer_request(request: Request, tasks: BackgroundTasks, sender: Sender,
                     body: Body) -> Response:
    """Take a consumer's TransferRequestMessage; start the transfer right after."""
    return _transfer_answer(request, None, lambda t: t.receive_request(sender, body), 201, tasks)


def _transfer_message(kind: str) -> Callable[..., Response]:
    def endpoint(pid: str, request: Request, sender: Sender, body: Body) -> Response:
        return _transfer_answer(request, pid, lambda t: t.receive(sender, pid, kind, body))

    endpoint.__doc__ = f"Take the other side's {kind}."
    return endpoint


for _kind, _path in ((START, "start"), (COMPLETE, "completion"), (SUSPEND, "suspension"),
                     (TERMINATE, "termination")):
    router.add_api_route(f"/dsp/transfers/{{pid}}/{_path}", _transfer_message(_kind),
                         methods=["POST"], name=f"transfer_{_path}",
                         openapi_extra=described(body=DSP_MESSAGE))

__all__ = ["DSPACE_CONTEXT", "router"]

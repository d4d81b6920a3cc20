"""Build the ASGI app: routers, error handlers and the shared broker; nothing else."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from civictwin import __version__
from civictwin.analytics import algorithms_api, insight_api
from civictwin.catalog import api as catalog_api
from civictwin.config import Settings
from civictwin.config import settings as load_settings
from civictwin.dataspace import audit_api, auth, consent_api, dsp_api
from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    InvalidRequest,
    OperationNotSupported,
    ResourceNotFound,
)
from civictwin.ingest.service import BridgeService
from civictwin.network import api as network_api
from civictwin.ngsild import api as entity_api
from civictwin.ngsild import meta_api, registrations_api, subscriptions_api
from civictwin.ngsild.notifier import Notifier
from civictwin.ngsild.temporal_api import router as temporal_router
from civictwin.ops import api as ops_api
from civictwin.privacy import api as privacy_api
from civictwin.store import Store
from civictwin.store.guard import set_statement_timeout
from civictwin.twin import open_twin
from civictwin.web import api as web_api
from civictwin.web import dashboard_api

log = logging.getLogger("civictwin")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Deliver notifications and run the MQTT bridges while the app serves."""
    notifier: Notifier = app.state.notifier
    bridges: BridgeService = app.state.bridges
    notifier.start()
    bridges.start()
    try:
        yield
    finally:
        bridges.stop()  # first: what they still write may notify
        notifier.stop()


def create_app(settings: Settings | None = None, store: Store | None = None) -> FastAPI:
    """Return the civictwin ASGI application over `store` (opened from settings if None)."""
    settings = settings or load_settings()
    twin = open_twin(settings, store)
    set_statement_timeout(twin.store, settings.statement_timeout_seconds)  # the API's, not CLIs'
    app = FastAPI(title="civictwin", version=__version__, lifespan=_lifespan,
                  description="A local digital twin and data space for cities (NGSI-LD).")
    app.state.settings = settings
    app.state.store = twin.store
    app.state.broker = twin.broker
    app.state.temporal = twin.temporal
    app.state.subscriptions = twin.subscriptions
    app.state.notifier = Notifier(app.state.subscriptions)
    app.state.bridges = BridgeService.from_settings(settings, twin.broker)
    app.include_router(entity_api.router)
    app.include_router(meta_api.router)
    app.include_router(temporal_router)
    app.include_router(registrations_api.router)
    app.include_router(subscriptions_api.router)
    app.include_router(catalog_api.router)
    app.include_router(dsp_api.router)
    app.include_router(web_api.router)
    app.include_router(dashboard_api.router)
    app.include_router(audit_api.router)
    app.include_router(consent_api.router)
    app.include_router(algorithms_api.router)
    app.include_router(insight_api.router)
    app.include_router(network_api.router)
    app.include_router(privacy_api.router)
    auth.install(app)
    ops_api.install(app, settings, twin.store)
    _error_handlers(app)
    return app


def problem(error: CivicTwinError, request: Request) -> Response:
    """Return a ProblemDetails response for a domain error."""
    body = error.to_problem(instance=request.url.path)
    return Response(json.dumps(body), status_code=error.status, media_type="application/json")


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CivicTwinError)
    async def _domain(request: Request, exc: CivicTwinError) -> Response:
        return problem(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return problem(BadRequestData(f"{where}: {first.get('msg')}"), request)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        error: CivicTwinError
        if exc.status_code == 404:
            error = ResourceNotFound(f"no resource at {request.url.path}")
        elif exc.status_code == 405:
            error = OperationNotSupported(f"{request.method} is not supported on "
                                          f"{request.url.path}")
        else:
            error = InvalidRequest(str(exc.detail))
        response = problem(error, request)
        if exc.status_code == 405:
            response.status_code = 405
        return response

    @app.exception_handler(RecursionError)
    async def _nested(request: Request, exc: RecursionError) -> Response:
        # Only input nests that deep: a body or document parsed by a library, not by read_body.
        return problem(BadRequestData("the request nests too deeply to be read"), request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(CivicTwinError("an unexpected error occurred; it has been logged"),
                       request)

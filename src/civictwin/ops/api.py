"""Operations endpoints: /health (liveness), /ready (readiness) and /metrics (Prometheus)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from civictwin.config import Settings
from civictwin.ops.metrics import Metrics
from civictwin.ops.middleware import Guard
from civictwin.store import Store
from civictwin.store.ops import missing_migrations

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: the process serves requests (no I/O)")
def health() -> dict[str, str]:
    """Answer that the process is alive, touching nothing."""
    return {"status": "ok"}


@router.get("/ready", summary="Readiness: database reachable and migrated, notifier running")
def ready(request: Request) -> Response:
    """Return 200 when the twin can do its work, else 503 with the reason."""
    reason = _not_ready(request)
    if reason is None:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503,
                        headers={"Retry-After": "5"})


@router.get("/metrics", summary="Prometheus metrics")
def metrics(request: Request) -> Response:
    """Return the app's metrics in the Prometheus text format."""
    return Response(generate_latest(request.app.state.metrics.registry),
                    media_type=CONTENT_TYPE_LATEST)


def _not_ready(request: Request) -> str | None:
    state: Any = request.app.state
    engine = getattr(state.store, "engine", None)
    if engine is not None:
        try:
            missing = missing_migrations(engine)
        except Exception as exc:
            log.warning("readiness: database unreachable: %s", type(exc).__name__)
            return f"database unreachable ({type(exc).__name__})"
        if missing:
            return f"database schema not migrated: missing versions {missing}"
    thread = getattr(state.notifier, "_thread", None)  # Notifier keeps no public flag
    if thread is None or not thread.is_alive():
        return "notifier not running"
    return None


def install(app: FastAPI, settings: Settings, store: Store) -> None:
    """Add the operations endpoints, metrics and the load guard to `app`."""
    metrics = Metrics(getattr(store, "engine", None))
    store.add_listener(metrics.on_writes)
    app.state.metrics = metrics
    app.include_router(router)
    app.add_middleware(Guard, settings=settings, metrics=metrics)

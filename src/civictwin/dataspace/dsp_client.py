"""Send Dataspace Protocol messages to another participant's connector, signed by this twin."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from civictwin.config import Settings
from civictwin.dataspace.auth import sign_token
from civictwin.errors import CounterpartyError

log = logging.getLogger("civictwin.dsp")
TIMEOUT = 10.0


def post(settings: Settings, audience: str, url: str, body: dict[str, Any],
         timeout: float = TIMEOUT) -> dict[str, Any]:
    """POST `body` to `url` as this twin; return the JSON answer ({} if none)."""
    return _call(settings, audience, "POST", url, body, timeout)


def get(settings: Settings, audience: str, url: str) -> dict[str, Any]:
    """GET `url` as this twin; return the JSON answer."""
    return _call(settings, audience, "GET", url, None)


def _call(settings: Settings, audience: str, method: str, url: str,
          body: dict[str, Any] | None, timeout: float = TIMEOUT) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {sign_token(settings, audience)}",
               "Accept": "application/json"}
    try:
        answer = httpx.request(method, url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise CounterpartyError(f"{audience} at {url} could not be reached: {exc}") from exc
    if answer.status_code >= 400:
        raise CounterpartyError(f"{audience} refused {body.get('@type') if body else method} "
                                f"with HTTP {answer.status_code}: {_reason(answer)}",
                                counterpartyStatus=answer.status_code)
    if not answer.content:
        return {}
    try:
        found = answer.json()
    except ValueError as exc:
        raise CounterpartyError(f"{audience} answered {url} with something not JSON") from exc
    return found if isinstance(found, dict) else {"answer": found}


def _reason(answer: httpx.Response) -> str:
    try:
        doc = answer.json()
    except ValueError:
        return answer.text[:200]
    if isinstance(doc, dict):
        if isinstance(doc.get("reason"), list):
            return "; ".join(str(r) for r in doc["reason"])
        if "detail" in doc:
            return str(doc["detail"])
    return str(doc)[:200]

"""Authentication for the whole app: API keys, signed tokens (JWT) and transfer access tokens.

`DataspaceGate` is an ASGI middleware, so every route — every router included now or later,
and mounted apps — is behind it except reads (GET, HEAD) of the configured public paths made
without a credential; a credential, where given, is always checked. It puts the
authenticated `Principal` in the request state; `current_participant` reads it there.
A participant acts in its own tenant (the NGSILD-Tenant header is filled in when absent, and
may name another tenant only for an operator). A bearer token minted for a transfer is handed
to `enforcement`, which decides what the consumer may read.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request

from civictwin.config import Settings
from civictwin.dataspace.participants import KEY_PREFIX, Participant, Participants
from civictwin.errors import CivicTwinError, Forbidden, Unauthorized
from civictwin.store.replay import first_use

log = logging.getLogger("civictwin.auth")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
TRANSFER_TOKEN_PREFIX = "ctt_"  # noqa: S105 (a prefix, not a secret)
ALGORITHMS = ["EdDSA", "ES256"]
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
OPEN_DATA_PATHS = ("/ngsi-ld/", "/tiles/", "/web/")
LEEWAY = 30
"""Seconds of clock difference allowed on a signed token's times."""
MAX_TOKEN_LIFETIME = 3600
"""Longest a signed token may still live when it arrives: the replay table keeps each that long."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a participant, and the transfer whose token it showed, if any."""

    participant: Participant | None
    transfer_pid: str | None = None

    @property
    def anonymous(self) -> bool:
        """Return whether nobody authenticated (open-data reads only)."""
        return self.participant is None


def local_operator(settings: Settings) -> Participant:
    """Return the operator every request acts as when authentication is turned off."""
    return Participant(settings.participant_id, "local operator", frozenset({"operator"}), "")


def current_participant(request: Request) -> Participant:
    """Return the authenticated participant of a request (a FastAPI dependency)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or principal.participant is None:
        raise Unauthorized("this resource needs a participant credential")
    return principal.participant


def requires_role(*roles: str, what: str) -> Callable[[Request], None]:
    """Return a dependency refusing participants with none of `roles` (operators always pass)."""
    def check(request: Request) -> None:
        principal: Principal | None = getattr(request.state, "principal", None)
        who = principal.participant if principal else None
        if who is None:
            raise Unauthorized(f"{what} needs a participant credential")
        if who.operator or who.roles & set(roles):
            return
        wanted = " or ".join(sorted({*roles, "operator"}))
        raise Forbidden(f"{what} is for participants with the role {wanted}; {who.id} has "
                        f"{', '.join(sorted(who.roles)) or 'no role'}")
    return check


def install(app: FastAPI) -> None:
    """Put every route of `app` behind the gate (call once, after its state is set)."""
    app.state.participants = Participants(app.state.store)
    app.add_middleware(DataspaceGate)


class DataspaceGate:
    """ASGI middleware: authenticate, check the tenant, hand transfer tokens to enforcement."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        if _public(scope, settings.public_paths):
            closed = _closed_tenant(scope, settings)
            if closed is not None:
                await _problem(scope, send, closed)
            else:
                await self.app(scope, receive, send)
            return
        try:
            principal = await anyio.to_thread.run_sync(_authenticate, state, scope)
            answer = await anyio.to_thread.run_sync(_admit, state, scope, principal)
        except CivicTwinError as exc:
            await _problem(scope, send, exc)
            return
        if answer is not None:
            await answer(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


TENANTLESS_PATHS = frozenset({"/web/open/me"})
"""Public paths that read nothing of a tenant (who the visitor is, which views it may open),
so an anonymous visitor of a closed tenant gets an answer rather than 401."""


def _public(scope: Scope, public_paths: tuple[str, ...]) -> bool:
    """Whether a request reads a public path without presenting a credential."""
    if scope["method"] not in SAFE_METHODS or _header(scope, b"authorization") is not None:
        return False
    path: str = scope["path"]
    return any(_matches(path, p) for p in public_paths)


def _closed_tenant(scope: Scope, settings: Settings) -> Unauthorized | None:
    """Refuse an anonymous read of a public path in a tenant that is not open data."""
    tenant = _header(scope, b"ngsild-tenant")
    if not settings.auth_required or not tenant or tenant in settings.anonymous_read:
        return None
    if scope["path"] in TENANTLESS_PATHS:
        return None
    return Unauthorized(f"tenant {tenant!r} is not open data: send a participant credential "
                        "to read its catalogue or pages")


def _matches(path: str, public: str) -> bool:
    # "/web/" names that one page (and "/web"); "/catalog" names it and all below it.
    if public.endswith("/"):
        return path in (public, public.rstrip("/"))
    return path == public or path.startswith(public + "/")


def _authenticate(state: Any, scope: Scope) -> Principal:
    settings: Settings = state.settings
    header = _header(scope, b"authorization")
    if header is None:
        if not settings.auth_required:
            return Principal(local_operator(settings))
        if _anonymous_read(scope, settings):
            return Principal(None)
        raise Unauthorized("send a participant credential: Authorization: Bearer <API key or "
                           "signed token>")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Unauthorized("the Authorization header must read 'Bearer <credential>'",
                           error="invalid_request")
    token = token.strip()
    if token.startswith(TRANSFER_TOKEN_PREFIX):
        from civictwin.dataspace.enforcement import transfer_principal

        return transfer_principal(state.store, token)
    participants: Participants = state.participants
    if token.startswith(KEY_PREFIX):
        found = participants.by_api_key(token)
        if found is None:
            raise Unauthorized("the API key is not valid (unknown or revoked)",
                               error="invalid_token")
    else:
        found = verify_token(token, participants, settings)
    if not found.active:
        raise Forbidden(f"participant {found.id} is suspended")
    return Principal(found)


def _anonymous_read(scope: Scope, settings: Settings) -> bool:
    """Whether an open-data tenant's data (NGSI-LD, map tiles and feeds) is being read."""
    if scope["method"] not in ("GET", "HEAD") or not scope["path"].startswith(OPEN_DATA_PATHS):
        return False
    tenant = (_header(scope, b"ngsild-tenant") or "") or "default"
    return tenant in settings.anonymous_read


def _admit(state: Any, scope: Scope, principal: Principal) -> ASGIApp | None:
    """Check the tenant the request names; return an answer that replaces the route, if any."""
    if principal.transfer_pid is not None:
        from civictwin.dataspace.enforcement import admit_transfer

        return admit_transfer(state, scope, principal)
    participant = principal.participant
    if participant is None:
        return None
    tenant = _header(scope, b"ngsild-tenant")
    if tenant is None:
        if participant.tenant:
            scope["headers"] = [*scope["headers"], (b"ngsild-tenant", participant.tenant.encode())]
        return None
    if not participant.may_use(tenant):
        raise Forbidden(f"participant {participant.id} acts in tenant "
                        f"{participant.tenant or '(default)'!r} and may not use tenant "
                        f"{tenant!r}; shared data is read with a transfer's access token")
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _problem(scope: Scope, send: Send, error: CivicTwinError) -> None:
    body = json.dumps(error.to_problem(instance=scope["path"])).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if isinstance(error, Unauthorized):
        challenge = 'Bearer realm="civictwin"'
        if "error" in error.extra:
            challenge += f', error="{error.extra["error"]}"'
        headers.append((b"www-authenticate", challenge.encode()))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- signed tokens ---------------------------------------------------------------------------
def verify_token(token: str, participants: Participants, settings: Settings) -> Participant:
    """Return the participant whose registered key signed `token` for this twin."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError as exc:
        raise Unauthorized("the credential is neither an API key nor a signed token",
                           error="invalid_token") from exc
    found = participants.find(issuer) if isinstance(issuer, str) else None
    if found is None or found.public_key is None:
        raise Unauthorized(f"the token's issuer {issuer!r} is not a participant with a "
                           "registered public key", error="invalid_token")
    try:
        claims = jwt.decode(token, found.public_key, algorithms=ALGORITHMS,
                            audience=settings.participant_id, issuer=found.id, leeway=LEEWAY,
                            options={"require": ["exp", "iat", "iss", "aud", "jti"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"the signed token is not valid: {exc}", error="invalid_token") from exc
    _use_once(participants, found.id, claims)
    return found


def _use_once(participants: Participants, issuer: str, claims: dict[str, Any]) -> None:
    """Accept a signed token's `jti` once; refuse replays and tokens too long-lived to track."""
    now = time.time()
    expires = float(claims["exp"])
    if expires - now > MAX_TOKEN_LIFETIME:
        raise Unauthorized(f"the signed token lives longer than {MAX_TOKEN_LIFETIME} s; send "
                           "short-lived tokens, one per request", error="invalid_token")
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 200:
        raise Unauthorized("the signed token's jti must be a string of 1 to 200 characters",
                           error="invalid_token")
    if not first_use(participants.rows.engine, issuer, jti, expires + LEEWAY, now):
        raise Unauthorized(f"the signed token {jti!r} was used before; sign a new token (a new "
                           "jti) for every request", error="invalid_token")


def sign_token(settings: Settings, audience: str) -> str:
    """Return a short-lived token, signed with this twin's key, for participant `audience`."""
    now = int(time.time())
    claims = {"iss": settings.participant_id, "sub": settings.participant_id, "aud": audience,
              "iat": now, "nbf": now, "exp": now + settings.token_ttl_seconds,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, load_signing_key(settings), algorithm="EdDSA")


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """Return this twin's signing key; CivicTwinError naming the file if it cannot be read."""
    path = Path(settings.signing_key_file)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise CivicTwinError(f"cannot read the signing key {path} (create it with "
                             f"`civictwin dsp identity`): {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CivicTwinError(f"the signing key {path} is not an Ed25519 key")
    return key


def ensure_identity(settings: Settings) -> str:
    """Create this twin's signing key if it has none; return its public key as PEM."""
    path = Path(settings.signing_key_file)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as fh:
            fh.write(pem)
    public = load_signing_key(settings).public_key()
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()

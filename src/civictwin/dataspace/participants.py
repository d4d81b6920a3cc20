"""Participants of the data space: organisations with roles, a tenant, and their credentials.

An API key reads `ctk_<key id>.<secret>`; only the SHA-256 of the secret is stored, and it is
compared in constant time. The key is shown once, when it is issued.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from civictwin.errors import BadRequestData, ResourceNotFound
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text

ROLES = ("provider", "consumer", "intermediary", "operator")
KINDS = ("department", "utility", "mobility", "ngo", "city", "company", "research", "other")
STATUSES = ("active", "suspended")
KEY_PREFIX = "ctk_"
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s]+$|^[A-Za-z0-9_\-.]{1,128}$")
_TENANT = re.compile(r"^[A-Za-z0-9_\-:.]{0,64}$")


@dataclass(frozen=True)
class Participant:
    """An organisation taking part in the data space."""

    id: str
    name: str
    roles: frozenset[str]
    tenant: str
    status: str = "active"
    kind: str = "other"
    public_key: str | None = None
    endpoint: str | None = None

    @property
    def active(self) -> bool:
        """Return whether the participant may act now."""
        return self.status == "active"

    @property
    def operator(self) -> bool:
        """Return whether the participant runs the twin (and may use every tenant)."""
        return "operator" in self.roles

    def may_use(self, tenant: str) -> bool:
        """Return whether the participant may act in `tenant`."""
        return self.operator or tenant == self.tenant

    def to_json(self) -> dict[str, Any]:
        """Return the participant as plain JSON (never a secret)."""
        return {"id": self.id, "name": self.name, "kind": self.kind,
                "roles": sorted(self.roles), "tenant": self.tenant, "status": self.status,
                "endpoint": self.endpoint, "hasPublicKey": self.public_key is not None}


@dataclass(frozen=True)
class IssuedKey:
    """A freshly issued API key: the only time its plain text exists."""

    key_id: str
    participant_id: str
    key: str


class Participants:
    """Register, change and authenticate participants."""

    def __init__(self, store: Store) -> None:
        self.rows = DataspaceStore(store)

    def add(self, participant_id: str, name: str, roles: set[str] | frozenset[str],
            tenant: str = "", kind: str = "other", public_key: str | None = None,
            endpoint: str | None = None) -> Participant:
        """Register a new participant; BadRequestData names what is wrong."""
        participant = Participant(participant_id, name.strip(), frozenset(roles), tenant,
                                  "active", kind, public_key, endpoint)
        _check(participant)
        stamp = now_text()
        self.rows.insert_participant({
            "id": participant.id, "name": participant.name, "kind": participant.kind,
            "roles": ",".join(sorted(participant.roles)), "tenant": participant.tenant,
            "status": participant.status, "public_key": participant.public_key,
            "endpoint": participant.endpoint, "created_at": stamp, "modified_at": stamp})
        return participant

    def get(self, participant_id: str) -> Participant:
        """Return a participant; ResourceNotFound if unknown."""
        row = self.rows.participant(participant_id)
        if row is None:
            raise ResourceNotFound(f"no participant {participant_id}")
        return _participant(row)

    def find(self, participant_id: str) -> Participant | None:
        """Return a participant, or None."""
        row = self.rows.participant(participant_id)
        return _participant(row) if row is not None else None

    def all(self) -> list[Participant]:
        """Return every participant, ordered by id."""
        return [_participant(r) for r in self.rows.participants()]

    def set_status(self, participant_id: str, status: str) -> Participant:
        """Suspend or reactivate a participant; it takes effect on its next request."""
        if status not in STATUSES:
            raise BadRequestData(f"status must be one of {', '.join(STATUSES)}")
        if not self.rows.update_participant(participant_id, {"status": status}):
            raise ResourceNotFound(f"no participant {participant_id}")
        return self.get(participant_id)

    def set_public_key(self, participant_id: str, public_key: str | None,
                       endpoint: str | None = None) -> Participant:
        """Register the key that verifies a participant's signed tokens (and its endpoint)."""
        current = self.get(participant_id)
        changed = Participant(current.id, current.name, current.roles, current.tenant,
                              current.status, current.kind, public_key,
                              endpoint or current.endpoint)
        _check(changed)
        self.rows.update_participant(participant_id, {"public_key": public_key,
                                                      "endpoint": changed.endpoint})
        return changed

    def remove(self, participant_id: str) -> None:
        """Remove a participant and every API key it holds."""
        if not self.rows.delete_participant(participant_id):
            raise ResourceNotFound(f"no participant {participant_id}")

    def issue_key(self, participant_id: str, label: str = "") -> IssuedKey:
        """Issue a new API key; its plain text is returned once and never stored."""
        self.get(participant_id)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self.rows.insert_key({"key_id": key_id, "participant_id": participant_id,
                              "secret_hash": _digest(secret), "label": label,
                              "created_at": now_text()})
        return IssuedKey(key_id, participant_id, f"{KEY_PREFIX}{key_id}.{secret}")

    def revoke_keys(self, participant_id: str, key_id: str | None = None) -> int:
        """Revoke one API key (or all) of a participant; return how many."""
        self.get(participant_id)
        return self.rows.delete_keys(participant_id, key_id)

    def keys(self, participant_id: str) -> list[dict[str, Any]]:
        """Return a participant's keys: id, label and when issued (never the secret)."""
        return [{"keyId": r["key_id"], "label": r["label"], "createdAt": r["created_at"]}
                for r in self.rows.keys(participant_id)]

    def by_api_key(self, key: str) -> Participant | None:
        """Return the participant holding API key `key`, or None."""
        if not key.startswith(KEY_PREFIX) or "." not in key:
            return None
        key_id, _, secret = key[len(KEY_PREFIX):].partition(".")
        row = self.rows.key(key_id)
        if row is None or not hmac.compare_digest(row["secret_hash"], _digest(secret)):
            return None
        return self.find(row["participant_id"])


DEMO_OPERATOR = "lumen-operator"


def demo_operator_key(store: Store) -> str:
    """Register the demo city's operator if needed; revoke its old keys, return a new one."""
    participants = Participants(store)
    if participants.find(DEMO_OPERATOR) is None:
        participants.add(DEMO_OPERATOR, "Lumen city operator", {"operator"}, "", "city")
    participants.revoke_keys(DEMO_OPERATOR)
    return participants.issue_key(DEMO_OPERATOR, "demo").key


def secret_digest(secret: str) -> str:
    """Return the stored form of a high-entropy secret (hex SHA-256)."""
    return _digest(secret)


def secret_matches(stored: str, secret: str) -> bool:
    """Compare a secret with its stored digest in constant time."""
    return hmac.compare_digest(stored, _digest(secret))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _participant(row: dict[str, Any]) -> Participant:
    roles = frozenset(r for r in str(row["roles"]).split(",") if r)
    return Participant(row["id"], row["name"], roles, row["tenant"], row["status"],
                       row["kind"], row["public_key"], row["endpoint"])


def _check(p: Participant) -> None:
    if not _ID.match(p.id):
        raise BadRequestData(f"participant id {p.id!r}: use a URI or letters, digits, -_.")
    if not p.name:
        raise BadRequestData("a participant needs a name")
    if not p.roles:
        raise BadRequestData(f"a participant needs at least one role of {', '.join(ROLES)}")
    unknown = sorted(p.roles - set(ROLES))
    if unknown:
        raise BadRequestData(f"unknown role {unknown[0]!r}; roles are {', '.join(ROLES)}")
    if p.kind not in KINDS:
        raise BadRequestData(f"unknown kind {p.kind!r}; kinds are {', '.join(KINDS)}")
    if not _TENANT.match(p.tenant):
        raise BadRequestData(f"tenant {p.tenant!r} is not a valid tenant name")
    if p.public_key is not None:
        try:
            load_pem_public_key(p.public_key.encode())
        except ValueError as exc:
            raise BadRequestData("the public key is not a PEM public key") from exc
    if p.endpoint is not None and not p.endpoint.startswith(("http://", "https://")):
        raise BadRequestData(f"endpoint {p.endpoint!r} must be an http(s) URL")

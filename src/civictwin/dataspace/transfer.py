"""Transfer processes (Dataspace Protocol 2025-1), HTTP pull, as provider and as consumer.

Under a FINALIZED agreement the consumer asks for a transfer; the provider starts it by
sending a DataAddress: its NGSI-LD endpoint and a bearer token bound to this transfer (and so
to the agreement). The token is stored hashed; it opens data only while the transfer is
STARTED and the agreement active, so suspending or terminating either stops access at once.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace import dsp_client
from civictwin.dataspace.auth import TRANSFER_TOKEN_PREFIX
from civictwin.dataspace.dsp_messages import HTTP_PULL, check, data_address, message, reasons
from civictwin.dataspace.negotiation import FINALIZED, Negotiation, Negotiations
from civictwin.dataspace.participants import Participant, secret_digest
from civictwin.dataspace.states import CONSUMER, EITHER, PROVIDER, Machine, Move, record
from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    CounterpartyError,
    Forbidden,
    InvalidStateTransition,
    ResourceNotFound,
)
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text

REQUESTED, STARTED, SUSPENDED = "REQUESTED", "STARTED", "SUSPENDED"
COMPLETED, TERMINATED = "COMPLETED", "TERMINATED"
STATES = (REQUESTED, STARTED, SUSPENDED, COMPLETED, TERMINATED)
START, SUSPEND = "TransferStartMessage", "TransferSuspensionMessage"
COMPLETE, TERMINATE = "TransferCompletionMessage", "TransferTerminationMessage"

TRANSFER = Machine("transfer", [
    Move("TransferRequestMessage", CONSUMER, {None: REQUESTED}),
    Move(START, PROVIDER, {REQUESTED: STARTED, SUSPENDED: STARTED}),
    Move(START, CONSUMER, {SUSPENDED: STARTED}),
    Move(SUSPEND, EITHER, {STARTED: SUSPENDED}),
    Move(COMPLETE, EITHER, {STARTED: COMPLETED}),
    Move(TERMINATE, EITHER, dict.fromkeys((REQUESTED, STARTED, SUSPENDED), TERMINATED)),
])
"""Exactly the transitions of the protocol; a consumer may restart only what it suspended."""
AGREEMENT_STATUSES = ("active", "suspended", "revoked")
_PATHS = {START: "start", SUSPEND: "suspension", COMPLETE: "completion", TERMINATE: "termination"}


@dataclass(frozen=True)
class Transfer:
    """One side's record of a transfer process."""

    pid: str
    role: str
    provider_pid: str | None
    consumer_pid: str | None
    counterparty: str
    counterparty_address: str
    agreement_id: str
    dataset_id: str
    tenant: str
    format: str
    state: str
    data_address: dict[str, Any] | None
    suspended_by: str | None
    token_id: str | None
    token_hash: str | None
    created_at: str
    modified_at: str

    def to_dsp(self) -> dict[str, Any]:
        """Return the TransferProcess message describing this transfer."""
        return message("TransferProcess", providerPid=self.provider_pid or "",
                       consumerPid=self.consumer_pid or "", state=self.state)

    def to_json(self) -> dict[str, Any]:
        """Return the transfer as plain JSON (the consumer's copy of the data address too)."""
        return {"pid": self.pid, "role": self.role, "providerPid": self.provider_pid,
                "consumerPid": self.consumer_pid, "counterparty": self.counterparty,
                "agreement": self.agreement_id, "dataset": self.dataset_id,
                "format": self.format, "state": self.state, "dataAddress": self.data_address,
                "modifiedAt": self.modified_at}


def _transfer(row: dict[str, Any]) -> Transfer:
    values = dict(row)
    values["data_address"] = json.loads(values["data_address"]) if values["data_address"] \
        else None
    return Transfer(**values)


class Transfers:
    """Transfer processes of this twin, on both sides."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.rows = DataspaceStore(store)
        self.negotiations = Negotiations(store, settings)

    def get(self, pid: str) -> Transfer:
        """Return a transfer by this side's pid; ResourceNotFound if unknown."""
        row = self.rows.transfer(pid)
        if row is None:
            raise ResourceNotFound(f"no transfer process {pid}")
        return _transfer(row)

    def seen_by(self, pid: str, who: Participant) -> Transfer:
        """Return a transfer the participant takes part in (404 to anyone else)."""
        found = self.get(pid)
        if who.id != found.counterparty and not who.operator:
            raise ResourceNotFound(f"no transfer process {pid}")
        return found

    def all(self, agreement_id: str | None = None) -> list[Transfer]:
        """Return transfers (of one agreement), newest first."""
        return [_transfer(r) for r in self.rows.transfers(agreement_id)]

    # -- incoming ------------------------------------------------------------------------
    def receive_request(self, sender: Participant, body: Any) -> Transfer:
        """Take a consumer's TransferRequestMessage under one of its agreements."""
        msg = check(body, "TransferRequestMessage")
        TRANSFER.next_state(None, None, "TransferRequestMessage", CONSUMER)
        try:
            agreement = self.negotiations.agreement(msg["agreementId"])
        except ResourceNotFound:
            raise ResourceNotFound(f"no agreement {msg['agreementId']}") from None
        if agreement.role != PROVIDER or agreement.counterparty != sender.id:
            raise ResourceNotFound(f"no agreement {msg['agreementId']} with {sender.id}")
        if agreement.state != FINALIZED or agreement.agreement_status != "active":
            raise Forbidden(f"agreement {agreement.agreement_id} is {agreement.state} and "
                            f"{agreement.agreement_status or 'not in force'}; a transfer needs a "
                            "FINALIZED agreement in force")
        if msg["format"] != HTTP_PULL:
            raise BadRequestData(f"format {msg['format']!r} is not offered; this provider "
                                 f"offers {HTTP_PULL}")
        pid = f"urn:uuid:{uuid.uuid4()}"
        values = _row(pid, PROVIDER, sender.id, msg["callbackAddress"], agreement.agreement_id
                      or "", agreement.dataset_id, agreement.tenant, msg["format"], REQUESTED,
                      provider_pid=pid, consumer_pid=msg["consumerPid"])
        with self.rows.transaction() as conn:
            self.rows.insert_transfer(values, conn)
            record(conn, self.store, agreement.tenant, sender.id, "transfer.requested", pid,
                   {"agreement": agreement.agreement_id, "dataset": agreement.dataset_id})
        return self.get(pid)

    def receive(self, sender: Participant, pid: str, kind: str, body: Any) -> Transfer:
        """Take the other side's start, suspension, completion or termination message."""
        msg = check(body, kind)
        current = self.seen_by(pid, sender)
        own = "providerPid" if current.role == PROVIDER else "consumerPid"
        if msg[own] != pid:
            raise BadRequestData(f"{kind}: {own} {msg[own]} is not {pid}")
        side = CONSUMER if current.role == PROVIDER else PROVIDER
        changes: dict[str, Any] = {}
        if kind == START and side == CONSUMER and current.suspended_by != CONSUMER:
            raise InvalidStateTransition(f"transfer {pid} was suspended by the provider; only "
                                         "the provider restarts it")
        if kind == START and side == PROVIDER:
            if "dataAddress" not in msg and current.data_address is None:
                raise BadRequestData("TransferStartMessage: an HTTP pull needs a dataAddress")
            if "dataAddress" in msg:
                changes["data_address"] = json.dumps(msg["dataAddress"])
                changes["provider_pid"] = msg["providerPid"]
        if kind == SUSPEND:
            changes["suspended_by"] = side
        return self._apply(current, kind, side, sender.id, changes,
                           {"reason": msg.get("reason"), "code": msg.get("code")})

    # -- outgoing ------------------------------------------------------------------------
    def request(self, agreement_id: str, fmt: str = HTTP_PULL) -> Transfer:
        """Ask the provider of one of this twin's agreements for a transfer."""
        agreement = self.negotiations.agreement(agreement_id)
        if agreement.role != CONSUMER:
            raise BadRequestData(f"agreement {agreement_id} is one this twin provides; the "
                                 "consumer asks for transfers")
        if agreement.state != FINALIZED:
            raise InvalidStateTransition(f"agreement {agreement_id} is {agreement.state}; a "
                                         "transfer needs it FINALIZED")
        pid = f"urn:uuid:{uuid.uuid4()}"
        self.rows.insert_transfer(_row(pid, CONSUMER, agreement.counterparty,
                                       agreement.counterparty_address, agreement_id,
                                       agreement.dataset_id, "", fmt, REQUESTED,
                                       consumer_pid=pid))
        body = message("TransferRequestMessage", agreementId=agreement_id, format=fmt,
                       callbackAddress=f"{self.settings.base_url()}/dsp", consumerPid=pid)
        try:
            answer = dsp_client.post(self.settings, agreement.counterparty,
                                     f"{agreement.counterparty_address}/transfers/request", body)
        except Exception:
            self.rows.delete_transfer(pid)
            raise
        with self.rows.transaction() as conn:
            self.rows.move_transfer(pid, None, {"provider_pid": answer.get("providerPid")}, conn)
            record(conn, self.store, "", self.settings.participant_id, "transfer.requested",
                   pid, {"agreement": agreement_id, "provider": agreement.counterparty})
        return self.get(pid)

    def start(self, pid: str) -> Transfer:
        """Start (or restart) a transfer: as provider, hand the consumer its data address."""
        current = self.get(pid)
        TRANSFER.next_state(pid, current.state, START, current.role)
        if current.role == CONSUMER:
            if current.suspended_by != CONSUMER:
                raise InvalidStateTransition(f"transfer {pid} was suspended by the provider; "
                                             "only the provider restarts it")
            return self._send(current, START, {}, {"suspended_by": None})
        self._check_agreement(current)
        token_id, secret = current.token_id or secrets.token_hex(8), secrets.token_urlsafe(32)
        token = f"{TRANSFER_TOKEN_PREFIX}{token_id}.{secret}"
        address = data_address(f"{self.settings.base_url()}/ngsi-ld/v1", token)
        # Open the token before telling the consumer, so its first read finds it; undo below
        # if the consumer cannot be told.
        started = self._apply(current, START, PROVIDER, self.settings.participant_id,
                              {"token_id": token_id, "token_hash": secret_digest(secret),
                               "suspended_by": None})
        body = message(START, providerPid=pid, consumerPid=current.consumer_pid,
                       dataAddress=address)
        url = f"{current.counterparty_address}/transfers/{current.consumer_pid}/start"
        try:
            dsp_client.post(self.settings, current.counterparty, url, body)
        except CounterpartyError:
            self.rows.move_transfer(pid, STARTED, {"state": current.state,
                                                   "token_hash": current.token_hash})
            raise
        return started

    def suspend(self, pid: str, reason: str | None = None) -> Transfer:
        """Suspend a started transfer, telling the other side; data stops at once."""
        current = self.get(pid)
        return self._send(current, SUSPEND, {"code": "suspended", "reason": reasons(reason)},
                          {"suspended_by": current.role})

    def complete(self, pid: str) -> Transfer:
        """Mark a started transfer complete, telling the other side."""
        return self._send(self.get(pid), COMPLETE, {}, {})

    def terminate(self, pid: str, reason: str | None = None) -> Transfer:
        """Terminate a transfer, telling the other side; data stops at once."""
        return self._send(self.get(pid), TERMINATE,
                          {"code": "terminated", "reason": reasons(reason)}, {})

    def set_agreement_status(self, agreement_id: str, status: str,
                             reason: str | None = None) -> Negotiation:
        """Suspend, resume or revoke an agreement; access follows at once.

        Revoking is final and terminates the agreement's open transfers, telling the consumer
        where it can be reached (the transfer ends here either way).
        """
        if status not in AGREEMENT_STATUSES:
            raise BadRequestData(f"an agreement is {', '.join(AGREEMENT_STATUSES)}")
        agreement = self.negotiations.agreement(agreement_id)
        if agreement.state != FINALIZED or agreement.agreement_status == "revoked":
            raise InvalidStateTransition(f"agreement {agreement_id} is "
                                         f"{agreement.agreement_status or agreement.state}; it "
                                         "cannot change any more")
        with self.rows.transaction() as conn:
            self.rows.move_negotiation(agreement.pid, FINALIZED, {"agreement_status": status},
                                       conn)
            record(conn, self.store, agreement.tenant, self.settings.participant_id,
                   f"agreement.{'resumed' if status == 'active' else status}", agreement_id,
                   {"reason": reason} if reason else {})
        if status == "revoked":
            for transfer in self.all(agreement_id):
                if transfer.state in (REQUESTED, STARTED, SUSPENDED):
                    self._end(transfer, reason or "the agreement was revoked")
        return self.negotiations.agreement(agreement_id)

    def _end(self, transfer: Transfer, reason: str) -> None:
        try:
            self.terminate(transfer.pid, reason)
        except CounterpartyError:
            self._apply(transfer, TERMINATE, transfer.role, self.settings.participant_id, {},
                        {"reason": [reason], "notified": "no"})

    def _check_agreement(self, current: Transfer) -> None:
        agreement = self.negotiations.agreement(current.agreement_id)
        if agreement.state != FINALIZED or agreement.agreement_status != "active":
            raise Forbidden(f"agreement {current.agreement_id} is "
                            f"{agreement.agreement_status or agreement.state}; the transfer "
                            "cannot start")

    def _apply(self, current: Transfer, kind: str, side: str, actor: str,
               changes: dict[str, Any], detail: dict[str, Any] | None = None) -> Transfer:
        state = TRANSFER.next_state(current.pid, current.state, kind, side)
        with self.rows.transaction() as conn:
            if not self.rows.move_transfer(current.pid, current.state,
                                           {**changes, "state": state}, conn):
                raise InvalidStateTransition(f"transfer {current.pid} changed meanwhile; "
                                             "try again")
            record(conn, self.store, current.tenant, actor, f"transfer.{state.lower()}",
                   current.pid, {"message": kind, "agreement": current.agreement_id,
                                 **{k: v for k, v in (detail or {}).items() if v}})
        return self.get(current.pid)

    def _send(self, current: Transfer, kind: str, members: dict[str, Any],
              changes: dict[str, Any]) -> Transfer:
        TRANSFER.next_state(current.pid, current.state, kind, current.role)
        body = message(kind, providerPid=current.provider_pid, consumerPid=current.consumer_pid,
                       **members)
        other = current.consumer_pid if current.role == PROVIDER else current.provider_pid
        url = f"{current.counterparty_address}/transfers/{other}/{_PATHS[kind]}"
        # Recorded before sending (a suspension or termination stops data at once, and the
        # other side's next message finds this side moved); undone if the send fails.
        moved = self._apply(current, kind, current.role, self.settings.participant_id, changes,
                            {"reason": members.get("reason")})
        try:
            dsp_client.post(self.settings, current.counterparty, url, body)
        except CivicTwinError as exc:
            restore = {"state": current.state, **{c: getattr(current, c) for c in changes}}
            if self.rows.move_transfer(current.pid, moved.state, restore):
                self._undone(current, exc)
            raise
        return moved

    def _undone(self, current: Transfer, error: CivicTwinError) -> None:
        """Record that a step this side took was undone because the other side was not told."""
        from civictwin.dataspace.audit import AuditLog

        AuditLog(self.store).record(current.tenant, self.settings.participant_id,
                                    "transfer.undone", current.pid,
                                    {"state": current.state, "reason": error.detail})


def _row(pid: str, role: str, counterparty: str, address: str, agreement_id: str,
         dataset_id: str, tenant: str, fmt: str, state: str, *, provider_pid: str | None = None,
         consumer_pid: str | None = None) -> dict[str, Any]:
    stamp = now_text()
    return {"pid": pid, "role": role, "provider_pid": provider_pid, "consumer_pid": consumer_pid,
            "counterparty": counterparty, "counterparty_address": address.rstrip("/"),
            "agreement_id": agreement_id, "dataset_id": dataset_id, "tenant": tenant,
            "format": fmt, "state": state, "data_address": None, "suspended_by": None,
            "token_id": None, "token_hash": None, "created_at": stamp, "modified_at": stamp}

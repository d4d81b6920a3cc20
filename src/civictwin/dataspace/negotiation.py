"""Contract negotiation (Dataspace Protocol 2025-1), as provider and as consumer.

Each side keeps its own row for a negotiation, keyed by its own process id (`pid`): the
provider's is the providerPid, the consumer's the consumerPid. Outgoing steps are checked
against the state machine first, sent, and recorded only once the other side accepted the
message; incoming steps are checked, then recorded with their audit entry in one transaction.
A refused step changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from civictwin.config import Settings
from civictwin.dataspace import dsp_client
from civictwin.dataspace.dsp_messages import check, check_policy, message, reasons
from civictwin.dataspace.participants import Participant, Participants
from civictwin.dataspace.states import CONSUMER, EITHER, PROVIDER, Machine, Move, record
from civictwin.errors import (
    BadRequestData,
    CivicTwinError,
    InvalidStateTransition,
    ResourceNotFound,
)
from civictwin.store import Store
from civictwin.store.dataspace import DataspaceStore, now_text

log = logging.getLogger("civictwin.dsp")
REQUESTED, OFFERED, ACCEPTED, AGREED = "REQUESTED", "OFFERED", "ACCEPTED", "AGREED"
VERIFIED, FINALIZED, TERMINATED = "VERIFIED", "FINALIZED", "TERMINATED"
STATES = (REQUESTED, OFFERED, ACCEPTED, AGREED, VERIFIED, FINALIZED, TERMINATED)
_OPEN = (REQUESTED, OFFERED, ACCEPTED, AGREED, VERIFIED)
TERMINATION = "ContractNegotiationTerminationMessage"

NEGOTIATION = Machine("negotiation", [
    Move("ContractRequestMessage", CONSUMER, {None: REQUESTED, OFFERED: REQUESTED}),
    Move("ContractOfferMessage", PROVIDER, {None: OFFERED, REQUESTED: OFFERED}),
    Move("ACCEPTED", CONSUMER, {OFFERED: ACCEPTED}),
    Move("ContractAgreementMessage", PROVIDER, {REQUESTED: AGREED, ACCEPTED: AGREED}),
    Move("ContractAgreementVerificationMessage", CONSUMER, {AGREED: VERIFIED}),
    Move("FINALIZED", PROVIDER, {VERIFIED: FINALIZED}),
    Move(TERMINATION, EITHER, dict.fromkeys(_OPEN, TERMINATED)),
])
"""Exactly the transitions of the protocol: (message, who sends it) -> {from: to}."""

FollowUp = Callable[[], object] | None


@dataclass(frozen=True)
class Negotiation:
    """One side's record of a contract negotiation."""

    pid: str
    role: str
    provider_pid: str | None
    consumer_pid: str | None
    counterparty: str
    counterparty_address: str
    dataset_id: str
    tenant: str
    offer: dict[str, Any]
    agreement: dict[str, Any] | None
    agreement_id: str | None
    agreement_status: str | None
    uses: int
    state: str
    created_at: str
    modified_at: str

    def to_dsp(self) -> dict[str, Any]:
        """Return the ContractNegotiation message describing this negotiation."""
        return message("ContractNegotiation", providerPid=self.provider_pid or "",
                       consumerPid=self.consumer_pid or "", state=self.state)

    def to_json(self) -> dict[str, Any]:
        """Return the negotiation as plain JSON for the CLI and operators."""
        return {"pid": self.pid, "role": self.role, "providerPid": self.provider_pid,
                "consumerPid": self.consumer_pid, "counterparty": self.counterparty,
                "dataset": self.dataset_id, "state": self.state, "offer": self.offer,
                "agreement": self.agreement, "agreementStatus": self.agreement_status,
                "uses": self.uses, "modifiedAt": self.modified_at}


def _negotiation(row: dict[str, Any]) -> Negotiation:
    values = dict(row)
    values["offer"] = json.loads(values["offer"])
    values["agreement"] = json.loads(values["agreement"]) if values["agreement"] else None
    return Negotiation(**values)


class Negotiations:
    """Contract negotiations of this twin, on both sides."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.rows = DataspaceStore(store)

    # -- reading -------------------------------------------------------------------------
    def get(self, pid: str) -> Negotiation:
        """Return a negotiation by this side's pid; ResourceNotFound if unknown."""
        row = self.rows.negotiation(pid)
        if row is None:
            raise ResourceNotFound(f"no contract negotiation {pid}")
        return _negotiation(row)

    def seen_by(self, pid: str, who: Participant) -> Negotiation:
        """Return a negotiation the participant takes part in (404 to anyone else)."""
        found = self.get(pid)
        if who.id != found.counterparty and not who.operator:
            raise ResourceNotFound(f"no contract negotiation {pid}")
        return found

    def all(self, role: str | None = None) -> list[Negotiation]:
        """Return negotiations, newest first."""
        return [_negotiation(r) for r in self.rows.negotiations(role)]

    def agreement(self, agreement_id: str) -> Negotiation:
        """Return the negotiation that reached an agreement; ResourceNotFound if none."""
        row = self.rows.negotiation_by_agreement(agreement_id)
        if row is None:
            raise ResourceNotFound(f"no agreement {agreement_id}")
        return _negotiation(row)

    # -- provider: incoming --------------------------------------------------------------
    def receive_request(self, sender: Participant, body: Any,
                        pid: str | None = None) -> tuple[Negotiation, FollowUp]:
        """Take a consumer's ContractRequestMessage: a new negotiation or a counter-request."""
        msg = check(body, "ContractRequestMessage")
        if pid is not None:
            current = self._mine(pid, sender, PROVIDER, msg)
            if msg["offer"].get("target", current.dataset_id) != current.dataset_id:
                raise BadRequestData(f"offer.target must stay {current.dataset_id}, the dataset "
                                     "under negotiation")
            changed = self._apply(current, "ContractRequestMessage", CONSUMER, sender.id,
                                  {"offer": json.dumps(msg["offer"]),
                                   "consumer_pid": msg["consumerPid"]})
            return changed, self._auto_agree(changed)
        if "providerPid" in msg:
            raise BadRequestData("a counter-request goes to /negotiations/{providerPid}/request")
        NEGOTIATION.next_state(None, None, "ContractRequestMessage", CONSUMER)
        from civictwin.dataspace.dsp_catalog import find_dataset

        target = msg["offer"].get("target")
        if not isinstance(target, str):
            raise BadRequestData("offer.target must name the dataset the offer is for")
        offered = find_dataset(self.store, self.settings, target)
        created = self._insert(PROVIDER, f"urn:uuid:{uuid.uuid4()}", sender.id,
                               msg["callbackAddress"], offered.dataset.id, offered.tenant,
                               msg["offer"], REQUESTED, consumer_pid=msg["consumerPid"])
        return created, self._auto_agree(created)

    def _auto_agree(self, negotiation: Negotiation) -> FollowUp:
        if not self.settings.dsp_auto_agree or not self._offer_unchanged(negotiation):
            return None
        return lambda: self.agree(negotiation.pid)

    def _offer_unchanged(self, negotiation: Negotiation) -> bool:
        from civictwin.dataspace.dsp_catalog import dataset_in

        try:
            offered = dataset_in(self.store, self.settings, negotiation.tenant,
                                 negotiation.dataset_id)
        except ResourceNotFound:
            return False
        ours = offered.offer(str(negotiation.offer.get("@id")))
        return ours is not None and _terms(ours) == _terms(negotiation.offer)

    def receive_event(self, sender: Participant, pid: str,
                      body: Any) -> tuple[Negotiation, FollowUp]:
        """Take an ACCEPTED (to a provider) or FINALIZED (to a consumer) event message."""
        msg = check(body, "ContractNegotiationEventMessage")
        current = self.get(pid)
        side = CONSUMER if current.role == PROVIDER else PROVIDER
        current = self._mine(pid, sender, current.role, msg)
        changes: dict[str, Any] = {}
        if msg["eventType"] == FINALIZED:
            changes["agreement_status"] = "active"
        changed = self._apply(current, msg["eventType"], side, sender.id, changes)
        if msg["eventType"] == ACCEPTED and self.settings.dsp_auto_agree:
            return changed, lambda: self.agree(pid)  # the consumer took our own offer
        return changed, None

    def receive_verification(self, sender: Participant, pid: str,
                             body: Any) -> tuple[Negotiation, FollowUp]:
        """Take a consumer's ContractAgreementVerificationMessage; finalize next."""
        msg = check(body, "ContractAgreementVerificationMessage")
        current = self._mine(pid, sender, PROVIDER, msg)
        changed = self._apply(current, "ContractAgreementVerificationMessage", CONSUMER,
                              sender.id, {})
        return changed, lambda: self.finalize(pid)

    def receive_termination(self, sender: Participant, pid: str,
                            body: Any) -> tuple[Negotiation, FollowUp]:
        """Take the other side's ContractNegotiationTerminationMessage."""
        msg = check(body, TERMINATION)
        current = self.get(pid)
        current = self._mine(pid, sender, current.role, msg)
        side = CONSUMER if current.role == PROVIDER else PROVIDER
        changed = self._apply(current, TERMINATION, side, sender.id, {},
                              {"reason": msg.get("reason"), "code": msg.get("code")})
        return changed, None

    # -- consumer: incoming --------------------------------------------------------------
    def receive_offer(self, sender: Participant, body: Any,
                      pid: str | None = None) -> tuple[Negotiation, FollowUp]:
        """Take a provider's ContractOfferMessage: a new negotiation or a counter-offer."""
        msg = check(body, "ContractOfferMessage")
        if pid is not None:
            current = self._mine(pid, sender, CONSUMER, msg)
            changed = self._apply(current, "ContractOfferMessage", PROVIDER, sender.id,
                                  {"offer": json.dumps(msg["offer"])})
            return changed, None
        NEGOTIATION.next_state(None, None, "ContractOfferMessage", PROVIDER)
        if "callbackAddress" not in msg:
            raise BadRequestData("an initial ContractOfferMessage needs a callbackAddress")
        target = str(msg["offer"].get("target", ""))
        created = self._insert(CONSUMER, f"urn:uuid:{uuid.uuid4()}", sender.id,
                               msg["callbackAddress"], target, "", msg["offer"], OFFERED,
                               provider_pid=msg["providerPid"])
        return created, None

    def receive_agreement(self, sender: Participant, pid: str,
                          body: Any) -> tuple[Negotiation, FollowUp]:
        """Take a provider's ContractAgreementMessage; verify it next."""
        msg = check(body, "ContractAgreementMessage")
        current = self._mine(pid, sender, CONSUMER, msg)
        agreement = msg["agreement"]
        if agreement["target"] != current.dataset_id:
            raise BadRequestData(f"the agreement's target {agreement['target']} is not the "
                                 f"dataset {current.dataset_id} under negotiation")
        if _rules(agreement) != _rules(current.offer):
            raise BadRequestData("the agreement's rules are not those of the offer on the "
                                 "table; this consumer verifies only what it asked for")
        if agreement["assignee"] != self.settings.participant_id:
            raise BadRequestData(f"the agreement's assignee {agreement['assignee']} is not "
                                 f"this participant ({self.settings.participant_id})")
        changed = self._apply(current, "ContractAgreementMessage", PROVIDER, sender.id,
                              {"agreement": json.dumps(agreement),
                               "agreement_id": agreement["@id"],
                               "provider_pid": msg["providerPid"]},
                              {"agreement": agreement["@id"]})
        return changed, lambda: self.verify(pid)

    # -- consumer: outgoing --------------------------------------------------------------
    def request(self, provider_id: str, dataset_id: str, offer: dict[str, Any],
                provider_address: str | None = None) -> Negotiation:
        """Ask provider `provider_id` for a contract on `dataset_id` under `offer`."""
        provider = Participants(self.store).get(provider_id)
        address = (provider_address or provider.endpoint or "").rstrip("/")
        if not address:
            raise BadRequestData(f"participant {provider_id} has no endpoint; register it "
                                 "with --endpoint")
        offer = {**offer, "target": dataset_id}
        offer.pop("@context", None)
        check_policy(offer, "Offer", "offer")
        pid = f"urn:uuid:{uuid.uuid4()}"
        created = self._insert(CONSUMER, pid, provider_id, address, dataset_id, "", offer,
                               REQUESTED, consumer_pid=pid, audit=False)
        body = message("ContractRequestMessage", consumerPid=pid, offer=offer,
                       callbackAddress=f"{self.settings.base_url()}/dsp")
        try:
            answer = dsp_client.post(self.settings, provider_id,
                                     f"{address}/negotiations/request", body)
        except Exception:
            self.rows.delete_negotiation(pid)
            raise
        provider_pid = answer.get("providerPid")
        with self.rows.transaction() as conn:
            self.rows.move_negotiation(pid, None, {"provider_pid": provider_pid}, conn)
            record(conn, self.store, "", self.settings.participant_id,
                   "negotiation.requested", pid, {"provider": provider_id,
                                                  "dataset": dataset_id,
                                                  "offer": offer.get("@id")})
        return self.get(created.pid)

    def counter_request(self, pid: str, offer: dict[str, Any]) -> Negotiation:
        """Answer a provider's offer with another offer."""
        current = self._ours(pid, CONSUMER)
        offer = {**offer, "target": current.dataset_id}
        check_policy(offer, "Offer", "offer")
        return self._send(current, "ContractRequestMessage", "request",
                          {"offer": offer}, {"offer": json.dumps(offer)})

    def accept(self, pid: str) -> Negotiation:
        """Accept the provider's current offer."""
        return self._send(self._ours(pid, CONSUMER), "ACCEPTED", "events",
                          {"eventType": ACCEPTED}, {})

    def verify(self, pid: str) -> Negotiation:
        """Verify the agreement the provider sent."""
        return self._send(self._ours(pid, CONSUMER), "ContractAgreementVerificationMessage",
                          "agreement/verification", {}, {})

    # -- provider: outgoing --------------------------------------------------------------
    def offer(self, pid: str, offer: dict[str, Any]) -> Negotiation:
        """Answer a consumer's request with a (counter-)offer."""
        current = self._ours(pid, PROVIDER)
        offer = {**offer, "target": current.dataset_id}
        check_policy(offer, "Offer", "offer")
        return self._send(current, "ContractOfferMessage", "offers", {"offer": offer},
                          {"offer": json.dumps(offer)})

    def agree(self, pid: str) -> Negotiation:
        """Agree to the offer on the table: send the consumer the agreement."""
        current = self._ours(pid, PROVIDER)
        agreement = {
            "@id": f"urn:uuid:{uuid.uuid4()}", "@type": "Agreement",
            "target": current.dataset_id, "assigner": self.settings.participant_id,
            "assignee": current.counterparty,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **{k: v for k, v in current.offer.items()
               if k in ("permission", "prohibition", "obligation", "profile")}}
        return self._send(current, "ContractAgreementMessage", "agreement",
                          {"agreement": agreement},
                          {"agreement": json.dumps(agreement), "agreement_id": agreement["@id"]})

    def finalize(self, pid: str) -> Negotiation:
        """Tell the consumer the verified agreement is final."""
        return self._send(self._ours(pid, PROVIDER), FINALIZED, "events",
                          {"eventType": FINALIZED}, {"agreement_status": "active"})

    def terminate(self, pid: str, reason: str | None = None) -> Negotiation:
        """End a negotiation that is not final yet, telling the other side."""
        current = self.get(pid)
        return self._send(current, TERMINATION, "termination",
                          {"code": "terminated", "reason": reasons(reason)}, {})

    # -- plumbing ------------------------------------------------------------------------
    def _ours(self, pid: str, role: str) -> Negotiation:
        found = self.get(pid)
        if found.role != role:
            raise InvalidStateTransition(f"negotiation {pid}: this twin is its {found.role}, "
                                         f"not its {role}")
        return found

    def _mine(self, pid: str, sender: Participant, role: str, msg: dict[str, Any]) -> Negotiation:
        found = self.seen_by(pid, sender)
        if found.role != role:
            raise InvalidStateTransition(f"negotiation {pid}: this twin is its {found.role}; "
                                         f"{msg['@type']} goes to the {role}")
        own = "providerPid" if role == PROVIDER else "consumerPid"
        if msg.get(own) not in (None, pid):
            raise BadRequestData(f"{msg['@type']}: {own} {msg.get(own)} is not {pid}")
        return found

    def _insert(self, role: str, pid: str, counterparty: str, address: str, dataset_id: str,
                tenant: str, offer: dict[str, Any], state: str, *, provider_pid: str | None = None,
                consumer_pid: str | None = None, audit: bool = True) -> Negotiation:
        stamp = now_text()
        values = {"pid": pid, "role": role,
                  "provider_pid": pid if role == PROVIDER else provider_pid,
                  "consumer_pid": pid if role == CONSUMER else consumer_pid,
                  "counterparty": counterparty, "counterparty_address": address.rstrip("/"),
                  "dataset_id": dataset_id, "tenant": tenant, "offer": json.dumps(offer),
                  "agreement": None, "agreement_id": None, "agreement_status": None, "uses": 0,
                  "state": state, "created_at": stamp, "modified_at": stamp}
        with self.rows.transaction() as conn:
            self.rows.insert_negotiation(values, conn)
            if audit:
                record(conn, self.store, tenant, counterparty, f"negotiation.{state.lower()}",
                       pid, {"dataset": dataset_id, "offer": offer.get("@id"), "role": role})
        return _negotiation(values)

    def _apply(self, current: Negotiation, kind: str, sender_side: str, actor: str,
               changes: dict[str, Any], detail: dict[str, Any] | None = None) -> Negotiation:
        state = NEGOTIATION.next_state(current.pid, current.state, kind, sender_side)
        with self.rows.transaction() as conn:
            if not self.rows.move_negotiation(current.pid, current.state,
                                              {**changes, "state": state}, conn):
                raise InvalidStateTransition(f"negotiation {current.pid} changed meanwhile; "
                                             "try again")
            record(conn, self.store, current.tenant, actor, f"negotiation.{state.lower()}",
                   current.pid, {"message": kind, "dataset": current.dataset_id,
                                 **(detail or {})})
        return self.get(current.pid)

    def _send(self, current: Negotiation, kind: str, path: str, members: dict[str, Any],
              changes: dict[str, Any]) -> Negotiation:
        NEGOTIATION.next_state(current.pid, current.state, kind, current.role)
        wire = "ContractNegotiationEventMessage" if kind in (ACCEPTED, FINALIZED) else kind
        body = message(wire, providerPid=current.provider_pid, consumerPid=current.consumer_pid,
                       **members)
        other = current.consumer_pid if current.role == PROVIDER else current.provider_pid
        url = f"{current.counterparty_address}/negotiations/{other}/{path}"
        # Record the step before sending it: the other side may answer with its next message
        # at once, and that must find this side already moved. Undone if the send fails.
        moved = self._apply(current, kind, current.role, self.settings.participant_id, changes,
                            {"reason": members.get("reason")} if kind == TERMINATION else None)
        try:
            dsp_client.post(self.settings, current.counterparty, url, body)
        except CivicTwinError as exc:
            self._undo(current, moved, changes, exc)
            raise
        return moved

    def _undo(self, before: Negotiation, moved: Negotiation, changes: dict[str, Any],
              error: CivicTwinError) -> None:
        restore: dict[str, Any] = {"state": before.state}
        for column in changes:
            value = getattr(before, column)
            restore[column] = json.dumps(value) if column in ("offer", "agreement") and \
                value is not None else value
        with self.rows.transaction() as conn:
            if self.rows.move_negotiation(before.pid, moved.state, restore, conn):
                record(conn, self.store, before.tenant, self.settings.participant_id,
                       "negotiation.undone", before.pid,
                       {"state": before.state, "reason": error.detail})

def _rules(policy: dict[str, Any]) -> dict[str, Any]:
    return {k: policy.get(k) for k in ("permission", "prohibition", "obligation")}


def _terms(offer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in offer.items() if k not in ("target", "@context", "assigner")}


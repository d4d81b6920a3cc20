"""The protocol state machines: exactly the allowed moves; a refused step changes nothing."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civictwin.app import create_app
from civictwin.config import Settings
from civictwin.dataspace.auth import ensure_identity, sign_token
from civictwin.dataspace.dsp_messages import DSPACE_CONTEXT
from civictwin.dataspace.negotiation import NEGOTIATION, Negotiations
from civictwin.dataspace.negotiation import STATES as NEGOTIATION_STATES
from civictwin.dataspace.participants import Participants
from civictwin.dataspace.transfer import STATES as TRANSFER_STATES
from civictwin.dataspace.transfer import TRANSFER
from civictwin.errors import CounterpartyError, InvalidStateTransition
from civictwin.store import Store
from tests.dataspace.dsp_schemas import DspSchemas
from tests.dataspace.twins import OFFER, offer_buildings

P, C = "provider", "consumer"
NEGOTIATION_MOVES = {
    (None, "ContractRequestMessage", C): "REQUESTED",
    ("OFFERED", "ContractRequestMessage", C): "REQUESTED",
    (None, "ContractOfferMessage", P): "OFFERED",
    ("REQUESTED", "ContractOfferMessage", P): "OFFERED",
    ("OFFERED", "ACCEPTED", C): "ACCEPTED",
    ("REQUESTED", "ContractAgreementMessage", P): "AGREED",
    ("ACCEPTED", "ContractAgreementMessage", P): "AGREED",
    ("AGREED", "ContractAgreementVerificationMessage", C): "VERIFIED",
    ("VERIFIED", "FINALIZED", P): "FINALIZED",
    **{(s, "ContractNegotiationTerminationMessage", side): "TERMINATED"
       for s in ("REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED") for side in (P, C)},
}
TRANSFER_MOVES = {
    (None, "TransferRequestMessage", C): "REQUESTED",
    ("REQUESTED", "TransferStartMessage", P): "STARTED",
    ("SUSPENDED", "TransferStartMessage", P): "STARTED",
    ("SUSPENDED", "TransferStartMessage", C): "STARTED",
    **{("STARTED", "TransferSuspensionMessage", side): "SUSPENDED" for side in (P, C)},
    **{("STARTED", "TransferCompletionMessage", side): "COMPLETED" for side in (P, C)},
    **{(s, "TransferTerminationMessage", side): "TERMINATED"
       for s in ("REQUESTED", "STARTED", "SUSPENDED") for side in (P, C)},
}


@pytest.mark.parametrize(("machine", "states", "moves"), [
    (NEGOTIATION, NEGOTIATION_STATES, NEGOTIATION_MOVES),
    (TRANSFER, TRANSFER_STATES, TRANSFER_MOVES),
])
def test_exactly_the_protocol_transitions_are_allowed(machine: Any, states: tuple[str, ...],
                                                      moves: dict[Any, str]) -> None:
    messages = sorted({m for _, m, _ in moves})
    for state, message, side in itertools.product((None, *states), messages, (P, C)):
        expected = moves.get((state, message, side))
        if expected is not None:
            assert machine.next_state("urn:x", state, message, side) == expected
        else:
            with pytest.raises(InvalidStateTransition):
                machine.next_state("urn:x", state, message, side)


def test_refusals_say_why() -> None:
    with pytest.raises(InvalidStateTransition, match="only the provider sends"):
        NEGOTIATION.next_state("urn:n:1", "REQUESTED", "ContractAgreementMessage", C)
    with pytest.raises(InvalidStateTransition,
                       match=r"negotiation urn:n:1 is FINALIZED; .* only when it is AGREED"):
        NEGOTIATION.next_state("urn:n:1", "FINALIZED", "ContractAgreementVerificationMessage", C)


@pytest.fixture
def provider(store: Store, tenant: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any]]:
    """A provider twin that waits for its operator to agree, and a consumer's signed headers."""
    twin_id = f"urn:civictwin:participant:provider-{uuid.uuid4().hex[:8]}"
    settings = Settings(database_url="sqlite://", participant_id=twin_id, dsp_auto_agree=False,
                        signing_key_file=str(tmp_path / "provider.pem"))
    ensure_identity(settings)
    consumer = Settings(participant_id=f"urn:civictwin:participant:c-{uuid.uuid4().hex[:8]}",
                        signing_key_file=str(tmp_path / "consumer.pem"))
    participants = Participants(store)
    participants.add(consumer.participant_id, "Research institute", {"consumer"},
                     f"r{uuid.uuid4().hex[:8]}", "research", ensure_identity(consumer))
    participants.add(f"dept-{uuid.uuid4().hex[:8]}", "Energy department", {"provider"}, tenant)
    dataset = offer_buildings(store, settings, tenant, "urn:lumen:energy")

    def signed() -> dict[str, str]:
        return {"Authorization": f"Bearer {sign_token(consumer, twin_id)}"}

    with TestClient(create_app(settings, store=store)) as client:
        yield client, {"headers": signed, "dataset": dataset, "consumer": consumer,
                       "settings": settings}


def _request(dataset: str, consumer_pid: str) -> dict[str, Any]:
    return {"@context": [DSPACE_CONTEXT], "@type": "ContractRequestMessage",
            "consumerPid": consumer_pid, "offer": {**OFFER, "target": dataset},
            "callbackAddress": "http://127.0.0.1:9/dsp"}


def _message(kind: str, provider_pid: str, consumer_pid: str, **extra: Any) -> dict[str, Any]:
    return {"@context": [DSPACE_CONTEXT], "@type": kind, "providerPid": provider_pid,
            "consumerPid": consumer_pid, **extra}


def test_illegal_steps_are_refused_and_change_nothing(provider: tuple[TestClient, Any],
                                                      store: Store, specs_dir: Path) -> None:
    client, ctx = provider
    schemas = DspSchemas(specs_dir)
    consumer_pid = f"urn:uuid:{uuid.uuid4()}"
    started = client.post("/dsp/negotiations/request", json=_request(ctx["dataset"],
                                                                     consumer_pid),
                          headers=ctx["headers"]())
    assert started.status_code == 201, started.text
    assert schemas.errors(started.json()) == [] and started.json()["state"] == "REQUESTED"
    pid = started.json()["providerPid"]
    for path, body in (
            ("agreement/verification",
             _message("ContractAgreementVerificationMessage", pid, consumer_pid)),
            ("events", _message("ContractNegotiationEventMessage", pid, consumer_pid,
                                eventType="ACCEPTED")),
            ("agreement", _message("ContractAgreementMessage", pid, consumer_pid,
                                   agreement={**OFFER, "@type": "Agreement", "target": "x",
                                              "assigner": "a", "assignee": "b"}))):
        refused = client.post(f"/dsp/negotiations/{pid}/{path}", json=body,
                              headers=ctx["headers"]())
        assert refused.status_code == 400, path
        error = refused.json()
        assert error["@type"] == "ContractNegotiationError" and schemas.errors(error) == []
        assert error["code"] == "InvalidStateTransition"
        got = client.get(f"/dsp/negotiations/{pid}", headers=ctx["headers"]())
        assert got.json()["state"] == "REQUESTED"
    assert "is REQUESTED" in client.post(
        f"/dsp/negotiations/{pid}/agreement/verification",
        json=_message("ContractAgreementVerificationMessage", pid, consumer_pid),
        headers=ctx["headers"]()).json()["reason"][0]


def test_bad_messages_and_strangers_are_refused(provider: tuple[TestClient, Any],
                                                store: Store, specs_dir: Path) -> None:
    client, ctx = provider
    before = len(Negotiations(store, ctx["settings"]).all())
    no_pid = _request(ctx["dataset"], "x")
    del no_pid["consumerPid"]
    bad = client.post("/dsp/negotiations/request", json=no_pid, headers=ctx["headers"]())
    assert bad.status_code == 400 and "consumerPid is required" in bad.json()["reason"][0]
    unknown = client.post("/dsp/negotiations/request",
                          json=_request("urn:no:such:dataset", "urn:uuid:1"),
                          headers=ctx["headers"]())
    assert unknown.status_code == 404 and DspSchemas(specs_dir).errors(unknown.json()) == []
    assert len(Negotiations(store, ctx["settings"]).all()) == before
    started = client.post("/dsp/negotiations/request", json=_request(ctx["dataset"], "urn:c:1"),
                          headers=ctx["headers"]()).json()
    stranger = Participants(store).add(f"urn:s:{uuid.uuid4().hex[:6]}", "Stranger",
                                       {"consumer"})
    key = Participants(store).issue_key(stranger.id).key
    hidden = client.get(f"/dsp/negotiations/{started['providerPid']}",
                        headers={"Authorization": f"Bearer {key}"})
    assert hidden.status_code == 404


def test_an_unreachable_consumer_leaves_the_negotiation_as_it_was(
        provider: tuple[TestClient, Any], store: Store) -> None:
    client, ctx = provider
    started = client.post("/dsp/negotiations/request", json=_request(ctx["dataset"], "urn:c:2"),
                          headers=ctx["headers"]()).json()
    negotiations = Negotiations(store, ctx["settings"])
    with pytest.raises(CounterpartyError, match="could not be reached"):
        negotiations.agree(started["providerPid"])
    assert negotiations.get(started["providerPid"]).state == "REQUESTED"
    ended = client.post(f"/dsp/negotiations/{started['providerPid']}/termination",
                        json=_message("ContractNegotiationTerminationMessage",
                                      started["providerPid"], "urn:c:2", code="1",
                                      reason=["changed our mind"]),
                        headers=ctx["headers"]())
    assert ended.json()["state"] == "TERMINATED"
    again = client.post(f"/dsp/negotiations/{started['providerPid']}/termination",
                        json=_message("ContractNegotiationTerminationMessage",
                                      started["providerPid"], "urn:c:2"),
                        headers=ctx["headers"]())
    assert again.status_code == 400 and "is TERMINATED" in again.json()["reason"][0]
    transfer = client.post("/dsp/transfers/request", headers=ctx["headers"](), json={
        "@context": [DSPACE_CONTEXT], "@type": "TransferRequestMessage",
        "agreementId": "urn:uuid:none", "format": "HttpData-PULL",
        "callbackAddress": "http://127.0.0.1:9/dsp", "consumerPid": "urn:c:t"})
    assert transfer.status_code == 404 and transfer.json()["@type"] == "TransferError"

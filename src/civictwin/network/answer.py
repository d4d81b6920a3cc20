"""Answer the network's question as this city: for itself, or for a peer under an agreement.

A peer's question is answered only under an agreement this twin provides to that peer,
FINALIZED and in force, whose policy allows aggregated use in groups the city's disclosure
rules will form; the rules are read out of the agreement itself. Every answer to a peer is
audited under the agreement, with the releases it drew on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from civictwin.config import Settings
from civictwin.dataspace.audit import AuditLog
from civictwin.dataspace.negotiation import FINALIZED, Negotiation, Negotiations
from civictwin.dataspace.odrl import AccessRequest, evaluate, parse_policy
from civictwin.dataspace.participants import Participant
from civictwin.dataspace.states import PROVIDER
from civictwin.errors import BadRequestData, Forbidden, ResourceNotFound
from civictwin.network.intensity import city_bands
from civictwin.network.offers import OFFER_ID, energy_dataset_id, energy_offer
from civictwin.network.peers import city_name
from civictwin.network.question import CityAnswer, check_question
from civictwin.store import Store

if TYPE_CHECKING:
    from civictwin.privacy import DisclosureRules


def own_rules(store: Store, settings: Settings, tenant: str) -> DisclosureRules:
    """Return this city's rules: those of its network offer (the default offer if it has none)."""
    from civictwin.catalog import Catalogue
    from civictwin.privacy import DisclosureRules

    try:
        dataset = Catalogue(store, settings).get_dataset(tenant, energy_dataset_id(tenant))
    except ResourceNotFound:
        return DisclosureRules.from_policy(energy_offer())
    offer = next((o for o in dataset.offers if o.get("@id") == OFFER_ID), energy_offer())
    return DisclosureRules.from_policy(offer)


def local_answer(store: Store, settings: Settings, tenant: str, by: str, start: str,
                 end: str) -> CityAnswer:
    """Compute this city's own bands under its own rules."""
    rules = own_rules(store, settings, tenant)
    bands, releases = city_bands(store, tenant, by, start, end, rules,
                                 settings.participant_id, None)
    return CityAnswer(city_name(settings), settings.participant_id, bands, releases,
                      rules.to_json())


def peer_answer(store: Store, settings: Settings, sender: Participant,
                body: Any) -> dict[str, Any]:
    """Answer a peer's question under its agreement; return what crosses the border."""
    if not isinstance(body, dict):
        raise BadRequestData("the question must be a JSON object")
    by, start, end = (str(body.get(k) or "") for k in ("by", "start", "end"))
    by = by or "construction_period"
    check_question(by, start, end)
    agreement = _agreement(store, settings, sender, body.get("agreement"))
    from civictwin.privacy import DisclosureRules

    policy = agreement.agreement or {}
    rules = DisclosureRules.from_policy(policy)
    decision = evaluate(parse_policy(policy), AccessRequest(
        at=datetime.now(UTC), assignee=sender.id, form="aggregate",
        group_size=rules.min_contributors, count=agreement.uses,
        target=agreement.dataset_id))
    log = AuditLog(store)
    if not decision.allowed:
        log.record(agreement.tenant, sender.id, "network.question.denied",
                   agreement.agreement_id or "", {"reason": decision.reason})
        raise Forbidden(decision.reason, rule=decision.rule)
    bands, releases = city_bands(store, agreement.tenant, by, start, end, rules, sender.id,
                                 agreement.agreement_id)
    log.record(agreement.tenant, sender.id, "network.question.answered",
               agreement.agreement_id or "", {"by": by, "start": start, "end": end,
                                              "releases": releases})
    return CityAnswer(city_name(settings), settings.participant_id, bands, releases,
                      rules.to_json(), agreement.agreement_id).to_json()


def _agreement(store: Store, settings: Settings, sender: Participant,
               agreement_id: Any) -> Negotiation:
    if not isinstance(agreement_id, str) or not agreement_id:
        raise BadRequestData("agreement: name the agreement this twin gave you")
    try:
        found = Negotiations(store, settings).agreement(agreement_id)
    except ResourceNotFound:
        raise ResourceNotFound(f"no agreement {agreement_id} with {sender.id}") from None
    if found.role != PROVIDER or found.counterparty != sender.id:
        raise ResourceNotFound(f"no agreement {agreement_id} with {sender.id}")
    if found.state != FINALIZED or found.agreement_status != "active":
        raise Forbidden(f"agreement {agreement_id} is {found.agreement_status or found.state}; "
                        "it answers no question")
    if found.dataset_id != energy_dataset_id(found.tenant):
        raise Forbidden(f"agreement {agreement_id} is for {found.dataset_id}, not this "
                        "city's meter history offered to the network")
    return found

"""Dataspace Protocol 2025-1 messages: build them, and check incoming ones field by field.

The checks follow the protocol's JSON Schemas (the tests validate every message against the
official files); a message that fails gets BadRequestData naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from civictwin.errors import BadRequestData

DSPACE_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
VERSION = "2025-1"
HTTP_PULL = "HttpData-PULL"
HTTP_ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"
ODRL_OPERATORS = {"eq", "gt", "gteq", "lteq", "hasPart", "isA", "isAllOf", "isAnyOf",
                  "isNoneOf", "isPartOf", "lt", "term-lteq", "neq"}

# Required string members of each message type (beyond @context and @type).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "CatalogRequestMessage": (),
    "DatasetRequestMessage": ("dataset",),
    "ContractRequestMessage": ("consumerPid",),
    "ContractOfferMessage": ("providerPid",),
    "ContractAgreementMessage": ("providerPid", "consumerPid"),
    "ContractAgreementVerificationMessage": ("providerPid", "consumerPid"),
    "ContractNegotiationEventMessage": ("providerPid", "consumerPid", "eventType"),
    "ContractNegotiationTerminationMessage": ("providerPid", "consumerPid"),
    "TransferRequestMessage": ("agreementId", "format", "callbackAddress", "consumerPid"),
    "TransferStartMessage": ("providerPid", "consumerPid"),
    "TransferSuspensionMessage": ("providerPid", "consumerPid"),
    "TransferCompletionMessage": ("providerPid", "consumerPid"),
    "TransferTerminationMessage": ("providerPid", "consumerPid"),
}
_OPTIONAL_STRINGS = ("providerPid", "consumerPid", "callbackAddress", "code", "format")


def message(kind: str, **members: Any) -> dict[str, Any]:
    """Return a protocol message of type `kind` with the given members (None ones left out)."""
    body: dict[str, Any] = {"@context": [DSPACE_CONTEXT], "@type": kind}
    body.update({k: v for k, v in members.items() if v is not None})
    return body


def reasons(reason: str | None) -> list[str] | None:
    """Return a `reason` member for a message, or None."""
    return [reason] if reason else None


def check(body: Any, kind: str) -> dict[str, Any]:
    """Return `body` if it is a well-formed message of type `kind`; else BadRequestData."""
    if not isinstance(body, dict):
        raise BadRequestData(f"a {kind} must be a JSON object")
    context = body.get("@context")
    if not isinstance(context, list) or DSPACE_CONTEXT not in context \
            or not all(isinstance(c, str) for c in context):
        raise BadRequestData(f"{kind}: @context must be a list of strings containing "
                             f"{DSPACE_CONTEXT}")
    if body.get("@type") != kind:
        raise BadRequestData(f"expected a {kind}, got @type {body.get('@type')!r}")
    for name in _REQUIRED[kind]:
        if not isinstance(body.get(name), str) or not body[name]:
            raise BadRequestData(f"{kind}: {name} is required and must be a string")
    for name in _OPTIONAL_STRINGS:
        if name in body and not isinstance(body[name], str):
            raise BadRequestData(f"{kind}: {name} must be a string")
    if "reason" in body and (not isinstance(body["reason"], list) or not body["reason"]):
        raise BadRequestData(f"{kind}: reason must be a non-empty list")
    _check_members(body, kind)
    return body


def _check_members(body: dict[str, Any], kind: str) -> None:
    if kind == "ContractRequestMessage":
        if ("callbackAddress" in body) == ("providerPid" in body):
            raise BadRequestData("ContractRequestMessage: send callbackAddress (a new "
                                 "negotiation) or providerPid (a counter-request), not both")
        check_policy(body.get("offer"), "Offer", "offer")
    elif kind == "ContractOfferMessage":
        if "consumerPid" not in body and "callbackAddress" not in body:
            raise BadRequestData("ContractOfferMessage: an initial offer needs a callbackAddress")
        check_policy(body.get("offer"), "Offer", "offer")
    elif kind == "ContractAgreementMessage":
        check_policy(body.get("agreement"), "Agreement", "agreement")
    elif kind == "ContractNegotiationEventMessage":
        if body["eventType"] not in ("ACCEPTED", "FINALIZED"):
            raise BadRequestData("eventType must be ACCEPTED or FINALIZED")
    elif kind in ("TransferRequestMessage", "TransferStartMessage") and "dataAddress" in body:
        check_data_address(body["dataAddress"])
    elif kind == "CatalogRequestMessage" and not isinstance(body.get("filter", []), list):
        raise BadRequestData("CatalogRequestMessage: filter must be a list")


def check_policy(doc: Any, kind: str, where: str) -> None:
    """Check an ODRL Offer or Agreement as the protocol carries it."""
    if not isinstance(doc, dict):
        raise BadRequestData(f"{where} must be an ODRL {kind} object")
    if doc.get("@type") != kind:
        raise BadRequestData(f"{where}: @type must be {kind}")
    if not isinstance(doc.get("@id"), str) or not doc["@id"]:
        raise BadRequestData(f"{where}: @id is required")
    if "permission" not in doc and "prohibition" not in doc:
        raise BadRequestData(f"{where}: needs a permission or a prohibition")
    needed = ("target", "assigner", "assignee") if kind == "Agreement" else ()
    for name in needed:
        if not isinstance(doc.get(name), str):
            raise BadRequestData(f"{where}: {name} is required and must be a string")
    for member in ("permission", "prohibition", "obligation"):
        if member in doc:
            rules = doc[member]
            if not isinstance(rules, list) or not rules:
                raise BadRequestData(f"{where}.{member} must be a non-empty list")
            for i, rule in enumerate(rules):
                _check_rule(rule, f"{where}.{member}[{i}]")


def _check_rule(rule: Any, where: str) -> None:
    if not isinstance(rule, dict) or not isinstance(rule.get("action"), str):
        raise BadRequestData(f"{where}: a rule needs an action (a string)")
    constraints = rule.get("constraint", [])
    if not isinstance(constraints, list):
        raise BadRequestData(f"{where}.constraint must be a list")
    for i, constraint in enumerate(constraints):
        _check_constraint(constraint, f"{where}.constraint[{i}]")


def _check_constraint(doc: Any, where: str) -> None:
    if not isinstance(doc, dict):
        raise BadRequestData(f"{where} must be an object")
    logical = [k for k in ("and", "andSequence", "or", "xone") if k in doc]
    if logical:
        if len(logical) > 1 or not isinstance(doc[logical[0]], list):
            raise BadRequestData(f"{where}: a logical constraint has one of and, andSequence, "
                                 "or, xone, as a list")
        for i, part in enumerate(doc[logical[0]]):
            _check_constraint(part, f"{where}.{logical[0]}[{i}]")
        return
    if not isinstance(doc.get("leftOperand"), str) or "rightOperand" not in doc:
        raise BadRequestData(f"{where}: needs leftOperand (a string), operator and "
                             "rightOperand")
    if doc.get("operator") not in ODRL_OPERATORS:
        raise BadRequestData(f"{where}: unknown operator {doc.get('operator')!r}")
    if not isinstance(doc["rightOperand"], str | dict | list):
        raise BadRequestData(f"{where}: rightOperand must be a string, object or list")


def check_data_address(doc: Any) -> None:
    """Check a DataAddress."""
    if not isinstance(doc, dict) or doc.get("@type") != "DataAddress" \
            or not isinstance(doc.get("endpointType"), str):
        raise BadRequestData("dataAddress must be a DataAddress with an endpointType")
    for prop in doc.get("endpointProperties", []):
        if not isinstance(prop, dict) or prop.get("@type") != "EndpointProperty" \
                or not isinstance(prop.get("name"), str) or not isinstance(prop.get("value"), str):
            raise BadRequestData("dataAddress.endpointProperties: each needs @type "
                                 "EndpointProperty, name and value (strings)")


def data_address(endpoint: str, token: str) -> dict[str, Any]:
    """Return the DataAddress of an HTTP pull: the endpoint and its bearer token."""
    return {"@type": "DataAddress", "endpointType": HTTP_ENDPOINT_TYPE, "endpoint": endpoint,
            "endpointProperties": [
                {"@type": "EndpointProperty", "name": "authorization", "value": token},
                {"@type": "EndpointProperty", "name": "authType", "value": "bearer"}]}


def address_token(doc: Mapping[str, Any]) -> str | None:
    """Return the bearer token a DataAddress carries, or None."""
    for prop in doc.get("endpointProperties", []):
        if prop.get("name") == "authorization":
            return str(prop["value"])
    return None

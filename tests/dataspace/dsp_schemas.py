"""Validate Dataspace Protocol messages against the official 2025-1 JSON Schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator
from referencing import Registry, Resource

SCHEMAS = {
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "DatasetRequestMessage": "catalog/dataset-request-message-schema.json",
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage":
        "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage":
        "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
}


class DspSchemas:
    """The protocol's schemas, cross-referenced through one registry."""

    def __init__(self, specs_dir: Path) -> None:
        self.root = specs_dir / "dataspace-protocol-2025-1"
        resources = []
        for path in sorted(self.root.glob("*/*-schema.json")):
            doc = self._load(path)
            resources.append((doc["$id"], Resource.from_contents(doc)))
        self.registry: Registry[Any] = Registry().with_resources(resources)

    @staticmethod
    def _load(path: Path) -> Any:
        # The 2025-1 transfer schemas write some references as `…json#definitions/X`, which is
        # not a JSON pointer (RFC 6901 needs `#/definitions/X`); read them as meant.
        return json.loads(path.read_text("utf-8").replace('.json#definitions/',
                                                          '.json#/definitions/'))

    def errors(self, doc: Any, kind: str | None = None) -> list[str]:
        """Return why `doc` is not a valid message of its @type (or `kind`); empty if valid."""
        kind = kind or (doc.get("@type") if isinstance(doc, dict) else None)
        if kind not in SCHEMAS:
            return [f"no schema for {kind!r}"]
        schema = self._load(self.root / SCHEMAS[kind])
        validator = Draft201909Validator(schema, registry=self.registry)
        return [f"{kind}: {e.message} at {list(e.absolute_path)}"
                for e in validator.iter_errors(doc)]

    def version_errors(self, doc: Any) -> list[str]:
        """Return why a version document is not valid."""
        schema = self._load(self.root / "common/protocol-version-schema.json")
        return [e.message for e in Draft201909Validator(schema, registry=self.registry)
                .iter_errors(doc)]

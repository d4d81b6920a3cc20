"""Consent records after ISO/IEC TS 27560, receipts after Kantara Consent Receipt v1.1.

A consent names the NGSI-LD entities it covers (`entities`, by id). While it is given, they
are served as usual; once it is withdrawn, or its expiry passes, they are withheld from every
entity query, retrieval, count and temporal query (`store/consent.withheld_filter`), and
`ConsentRegistry.withheld` lists them for transfers. Every event (given, renewed, withdrawn,
expired) goes into the record's event log and the audit trail in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from civictwin.dataspace.audit import AuditLog
from civictwin.errors import BadRequestData, Conflict, ResourceNotFound
from civictwin.store.base import Store
from civictwin.store.consent import ConsentRow, ConsentTable, EventRow, stamp

RECEIPT_VERSION = "KI-CR-v1.1.0"
STATUSES = ("given", "withdrawn", "expired")
_CONTROLLER = ("id", "name", "contact", "email", "address", "phone")


@dataclass(frozen=True)
class ConsentTerms:
    """What a data subject consents to: who, for what, which data, under which notice."""

    subject: str
    controller: dict[str, str]
    purposes: tuple[str, ...]
    data_categories: tuple[str, ...]
    notice_url: str
    notice_version: str
    jurisdiction: str
    collection_method: str
    recipients: tuple[str, ...] = ()
    entities: tuple[str, ...] = ()
    legal_basis: str = "consent"
    language: str = "en"
    service: str = "civictwin data sharing"
    expires_at: str | None = None
    sensitive: bool = False
    sensitive_categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class ConsentEvent:
    """One event of a consent's life."""

    event: str
    at: str
    actor: str


@dataclass(frozen=True)
class ConsentRecord:
    """A consent as kept: its terms, status and events."""

    id: str
    tenant: str
    terms: ConsentTerms
    status: str
    given_at: str
    withdrawn_at: str | None = None
    events: tuple[ConsentEvent, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Return the record with ISO/IEC TS 27560 information, camelCase."""
        t = self.terms
        return {"id": self.id, "type": "ConsentRecord", "piiPrincipalId": t.subject,
                "controller": t.controller, "recipients": list(t.recipients),
                "purposes": list(t.purposes), "dataCategories": list(t.data_categories),
                "legalBasis": t.legal_basis,
                "notice": {"url": t.notice_url, "version": t.notice_version},
                "jurisdiction": t.jurisdiction, "language": t.language,
                "collectionMethod": t.collection_method, "service": t.service,
                "entities": list(t.entities), "givenAt": self.given_at,
                "expiresAt": t.expires_at, "withdrawnAt": self.withdrawn_at,
                "status": self.status, "sensitive": t.sensitive,
                "events": [{"event": e.event, "at": e.at, "actor": e.actor}
                           for e in self.events],
                "withdraw": {"method": "POST", "href": f"/consent/{self.id}/withdraw"}}

    def receipt(self) -> dict[str, Any]:
        """Return the Kantara Consent Receipt v1.1 for the data subject."""
        t, c = self.terms, self.terms.controller
        given = datetime.strptime(self.given_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        termination = (f"on withdrawal, at the latest {t.expires_at}" if t.expires_at
                       else "on withdrawal")
        purposes = [{"purpose": p, "purposeCategory": [p], "consentType": "EXPLICIT",
                     "piiCategory": list(t.data_categories), "primaryPurpose": i == 0,
                     "termination": termination, "thirdPartyDisclosure": bool(t.recipients),
                     **({"thirdPartyName": ", ".join(t.recipients)} if t.recipients else {})}
                    for i, p in enumerate(t.purposes)]
        controller = {"piiController": c["name"], "contact": c["contact"],
                      "address": c["address"], "email": c["email"], "phone": c["phone"],
                      **({"piiControllerUrl": c["url"]} if c.get("url") else {})}
        return {"version": RECEIPT_VERSION, "jurisdiction": t.jurisdiction,
                "consentTimestamp": int(given.timestamp()),
                "collectionMethod": t.collection_method, "consentReceiptID": self.id,
                "language": t.language, "piiPrincipalId": t.subject,
                "piiControllers": [controller], "policyUrl": t.notice_url,
                "services": [{"service": t.service, "purposes": purposes}],
                "sensitive": t.sensitive, "spiCat": list(t.sensitive_categories)}


def parse_consent(body: Any, now: datetime) -> ConsentTerms:
    """Validate a consent body (JSON); BadRequestData names the first fault."""
    if not isinstance(body, Mapping):
        raise BadRequestData("a consent must be a JSON object")
    controller = body.get("controller")
    if not isinstance(controller, Mapping):
        raise BadRequestData("controller must be an object with " + ", ".join(_CONTROLLER))
    for key in _CONTROLLER:
        _text(controller, key, "controller.")
    notice = body.get("notice")
    if not isinstance(notice, Mapping):
        raise BadRequestData("notice must be an object with url and version")
    expires = body.get("expiresAt")
    return ConsentTerms(
        subject=_text(body, "subject"),
        controller={k: str(v) for k, v in controller.items() if isinstance(v, str)},
        purposes=_texts(body, "purposes", required=True),
        data_categories=_texts(body, "dataCategories", required=True),
        notice_url=_text(notice, "url", "notice."),
        notice_version=_text(notice, "version", "notice."),
        jurisdiction=_text(body, "jurisdiction"),
        collection_method=_text(body, "collectionMethod"),
        recipients=_texts(body, "recipients"), entities=_texts(body, "entities"),
        legal_basis=_text(body, "legalBasis", default="consent"),
        language=_text(body, "language", default="en"),
        service=_text(body, "service", default="civictwin data sharing"),
        expires_at=None if expires is None else future(expires, now, "expiresAt"),
        sensitive=_flag(body, "sensitive"),
        sensitive_categories=_texts(body, "sensitiveCategories"))


def future(value: Any, now: datetime, name: str) -> str:
    """Return an ISO 8601 moment after `now` in sortable UTC form, or BadRequestData."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None:
        raise BadRequestData(f"{name}: {value!r} is not an ISO 8601 date-time")
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= now:
        raise BadRequestData(f"{name}: {value} is not in the future")
    return stamp(moment)


class ConsentRegistry:
    """Give, renew, withdraw and read consents; every event is audited."""

    def __init__(self, store: Store, audit: AuditLog | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.table = ConsentTable(store)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.audit = audit or AuditLog(store, self.clock)

    def give(self, tenant: str, actor: str, terms: ConsentTerms) -> ConsentRecord:
        """Record a new consent and return it."""
        now = stamp(self.clock())
        row = ConsentRow(tenant=tenant, id=f"urn:uuid:{uuid.uuid4()}", subject=terms.subject,
                         status="given", given_at=now, expires_at=terms.expires_at,
                         modified_at=now, doc=_doc(terms, None))
        with self.table.write() as conn, conn.begin():
            self.table.insert(conn, row)
            self.table.withhold(conn, tenant, row.id, terms.entities, terms.expires_at)
            self._event(conn, row, "given", actor, now)
        return self.get(tenant, row.id)

    def withdraw(self, tenant: str, actor: str, consent_id: str) -> ConsentRecord:
        """Withdraw a consent: its entities are withheld from now on (again: no change)."""
        now = stamp(self.clock())
        with self.table.write() as conn, conn.begin():
            row = self._locked(conn, tenant, consent_id)
            if row.status != "withdrawn":
                terms = _terms(row.doc)
                changed = replace(row, status="withdrawn", modified_at=now,
                                  doc=_doc(terms, now))
                self.table.save(conn, changed)
                self.table.withhold(conn, tenant, consent_id, terms.entities, now)
                self._event(conn, changed, "withdrawn", actor, now)
        return self.get(tenant, consent_id)

    def renew(self, tenant: str, actor: str, consent_id: str,
              expires_at: str | None) -> ConsentRecord:
        """Renew a given or expired consent until `expires_at` (None: until withdrawn)."""
        moment = self.clock()
        now = stamp(moment)
        until = None if expires_at is None else future(expires_at, moment, "expiresAt")
        with self.table.write() as conn, conn.begin():
            row = self._locked(conn, tenant, consent_id)
            if row.status == "withdrawn":
                raise Conflict(f"consent {consent_id} was withdrawn; a new consent is needed")
            terms = replace(_terms(row.doc), expires_at=until)
            changed = replace(row, status="given", expires_at=until, modified_at=now,
                              doc=_doc(terms, None))
            self.table.save(conn, changed)
            self.table.withhold(conn, tenant, consent_id, terms.entities, until)
            self._event(conn, changed, "renewed", actor, now)
        return self.get(tenant, consent_id)

    def get(self, tenant: str, consent_id: str) -> ConsentRecord:
        """Return one consent (ResourceNotFound if there is none)."""
        self.expire_due(tenant)
        with self.table.engine.connect() as conn:
            row = self.table.get(conn, tenant, consent_id)
        if row is None:
            raise ResourceNotFound(f"consent {consent_id} does not exist")
        return self._record(row)

    def list(self, tenant: str, subject: str | None = None, status: str | None = None,
             limit: int = 100, offset: int = 0) -> tuple[list[ConsentRecord], int]:
        """Return a page of the tenant's consents, newest first, and how many match."""
        if status is not None and status not in STATUSES:
            raise BadRequestData(f"status must be one of {', '.join(STATUSES)}")
        self.expire_due(tenant)
        rows, total = self.table.page(tenant, subject, status, limit, offset)
        return [self._record(r) for r in rows], total

    def expire_due(self, tenant: str | None = None) -> int:
        """Mark consents whose expiry passed as expired (audited); return how many."""
        now = stamp(self.clock())
        with self.table.engine.connect() as conn:
            if not self.table.due(conn, tenant, now):
                return 0
        with self.table.write() as conn, conn.begin():
            due = self.table.due(conn, tenant, now)
            for row in due:
                changed = replace(row, status="expired", modified_at=now)
                self.table.save(conn, changed)
                self._event(conn, changed, "expired", "civictwin", now)
        return len(due)

    def withheld(self, tenant: str) -> set[str]:
        """Return the ids of the entities withheld now (for transfers and exports)."""
        return self.table.withheld(tenant, stamp(self.clock()))

    def _locked(self, conn: Any, tenant: str, consent_id: str) -> ConsentRow:
        row = self.table.get(conn, tenant, consent_id, lock=True)
        if row is None:
            raise ResourceNotFound(f"consent {consent_id} does not exist")
        return row

    def _event(self, conn: Any, row: ConsentRow, event: str, actor: str, now: str) -> None:
        detail = {"subject": row.subject, "purposes": row.doc["purposes"],
                  "entities": row.doc["entities"], "expiresAt": row.expires_at}
        self.table.add_event(conn, row.tenant, row.id, EventRow(event, now, actor, detail))
        self.audit.record_in(conn, row.tenant, actor, f"consent.{event}", row.id, detail)

    def _record(self, row: ConsentRow) -> ConsentRecord:
        events = tuple(ConsentEvent(e.event, e.at, e.actor)
                       for e in self.table.events(row.tenant, row.id))
        return ConsentRecord(id=row.id, tenant=row.tenant, terms=_terms(row.doc),
                             status=row.status, given_at=row.given_at,
                             withdrawn_at=row.doc.get("withdrawnAt"), events=events)


def _doc(terms: ConsentTerms, withdrawn_at: str | None) -> dict[str, Any]:
    doc = {k: list(v) if isinstance(v, tuple) else v for k, v in terms.__dict__.items()}
    doc["withdrawnAt"] = withdrawn_at
    return doc


def _terms(doc: dict[str, Any]) -> ConsentTerms:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in doc.items() if k != "withdrawnAt"}
    return ConsentTerms(**values)


def _text(body: Mapping[str, Any], key: str, where: str = "",
          default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"{where}{key} must be a non-empty string")
    return value.strip()


def _texts(body: Mapping[str, Any], key: str, required: bool = False) -> tuple[str, ...]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise BadRequestData(f"{key} must be a list of non-empty strings")
    if required and not value:
        raise BadRequestData(f"{key} must name at least one")
    return tuple(v.strip() for v in value)


def _flag(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise BadRequestData(f"{key} must be true or false")
    return value

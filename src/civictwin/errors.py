"""Typed domain errors; each maps to one NGSI-LD ProblemDetails type and HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar

ERRORS_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class CivicTwinError(Exception):
    """Base of every error a caller can act on."""

    problem: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        """Return the ProblemDetails `type` IRI."""
        return ERRORS_BASE + self.problem

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """Return the ProblemDetails body (RFC 7807 / NGSI-LD 5.5.2)."""
        body: dict[str, Any] = {
            "type": self.type_uri,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidRequest(CivicTwinError):
    """The request is not well formed (syntax, JSON, headers)."""

    problem = "InvalidRequest"
    status = 400
    title = "Invalid request"


class BadRequestData(CivicTwinError):
    """The request is well formed but its content is not acceptable."""

    problem = "BadRequestData"
    status = 400
    title = "Bad request data"


class ResourceNotFound(CivicTwinError):
    """The addressed resource does not exist."""

    problem = "ResourceNotFound"
    status = 404
    title = "Resource not found"


class AlreadyExists(CivicTwinError):
    """The resource to create exists already."""

    problem = "AlreadyExists"
    status = 409
    title = "Already exists"


class OperationNotSupported(CivicTwinError):
    """The operation is not supported by this broker."""

    problem = "OperationNotSupported"
    status = 422
    title = "Operation not supported"


class TooComplexQuery(CivicTwinError):
    """The query is too complex to be answered."""

    problem = "TooComplexQuery"
    status = 403
    title = "Too complex query"


class TooManyResults(CivicTwinError):
    """The query would return more results than allowed."""

    problem = "TooManyResults"
    status = 403
    title = "Too many results"


class LdContextNotAvailable(CivicTwinError):
    """A JSON-LD @context could not be obtained (or may not be fetched)."""

    problem = "LdContextNotAvailable"
    status = 503
    title = "JSON-LD context not available"


class NotAcceptable(CivicTwinError):
    """No representation matches the Accept header."""

    problem = "NotAcceptable"
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(CivicTwinError):
    """The request body's media type is not supported."""

    problem = "UnsupportedMediaType"
    status = 415
    title = "Unsupported media type"


class Conflict(CivicTwinError):
    """The request conflicts with the resource's current state."""

    problem = "Conflict"
    status = 409
    title = "Conflict"


class Unauthorized(CivicTwinError):
    """The request carries no valid credential (API key or signed token)."""

    problem = "Unauthorized"
    status = 401
    title = "Unauthorized"


class Forbidden(CivicTwinError):
    """The authenticated participant may not do this; `detail` says why."""

    problem = "Forbidden"
    status = 403
    title = "Forbidden"


class InvalidStateTransition(CivicTwinError):
    """A data space message does not fit the state its negotiation or transfer is in."""

    problem = "InvalidStateTransition"
    status = 400
    title = "Invalid state transition"


class CounterpartyError(CivicTwinError):
    """Another participant's connector refused a message or could not be reached."""

    problem = "CounterpartyError"
    status = 502
    title = "Counterparty error"


class SourceUnavailable(CivicTwinError):
    """A remote source (a catalogue to harvest) could not be read."""

    problem = "SourceUnavailable"
    status = 502
    title = "Source unavailable"


class TooManyRequests(CivicTwinError):
    """The client sent more requests than its rate limit allows; retry later."""

    problem = "TooManyRequests"
    status = 429
    title = "Too many requests"


class ServiceUnavailable(CivicTwinError):
    """The twin is saturated or not ready; retry later."""

    problem = "ServiceUnavailable"
    status = 503
    title = "Service unavailable"


class QueryTimeout(TooComplexQuery):
    """A statement ran longer than `statement_timeout_seconds` and was cancelled."""

    title = "Query took too long"

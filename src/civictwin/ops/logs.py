"""Log configuration: plain text or one JSON object per line, with secrets scrubbed."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import IO, Any

# Defence in depth: civictwin never logs headers or query strings, but a library might.
SECRET = re.compile(
    r"(?i)((?:(?:proxy-)?authorization|api[-_]?key|x-api-key|token|access_token|password|"
    r"secret)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?|bearer\s+|basic\s+)"
    r"[^\s\"'&,;]+")
FIELDS = ("method", "route", "status", "duration_ms", "tenant", "client")


def scrub(text: str) -> str:
    """Return `text` with anything that looks like a credential replaced by [redacted]."""
    return SECRET.sub(lambda m: m.group(1) + "[redacted]", text)


class ScrubSecrets(logging.Filter):
    """Replace credentials in a record's message before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, scrubbed; always keep the record."""
        record.msg = scrub(record.getMessage())
        record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message and request fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: getattr(record, k) for k in FIELDS if hasattr(record, k)})
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info))
        return json.dumps(line, default=str)


def configure_logging(log_format: str, level: int = logging.INFO,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Send civictwin's and uvicorn's logs to stderr (or `stream`) in `log_format`."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubSecrets())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "civictwin"]:
        root.removeHandler(old)
    handler.set_name("civictwin")
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    return handler

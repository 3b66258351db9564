"""Structured logs: JSON (or text) lines on stderr, each stamped with the request ID.

`LOG_FORMAT=json|text` and `LOG_LEVEL` choose; the app factory calls `configure_logging`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import has_request_context, request

HANDLER_MARK = "_service_handler"
# Where service.observability.RequestIds keeps the request's ID in the WSGI environ.
REQUEST_ID_KEY = "service.request_id"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request ID, fields.

    Structured fields are passed as `extra={"fields": {...}}`. Written for the access
    log's budget of a few microseconds a line: one encoder, a cached timestamp prefix.
    """

    _encode = json.JSONEncoder(default=str, ensure_ascii=True).encode

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._prefix = ""

    def timestamp(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is reused."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return self._encode(entry)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the request ID when there is one."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        )


class RequestIdFilter(logging.Filter):
    """Stamps the current request's ID on every record logged while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request.environ.get(REQUEST_ID_KEY) if has_request_context() else None
            record.request_id = rid or "-"
        return True


class StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_logging(level: str = "INFO", fmt: str = "json") -> logging.Handler:
    """One stderr handler on the root logger, JSON or text; calling again replaces it."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = StderrHandler()
    setattr(handler, HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler

"""Requests through Flask's test client that the client cannot otherwise make."""

from __future__ import annotations

from typing import Any


def chunked(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    """Test-client arguments sending `body` as a server hands a chunked one to the app:
    `Transfer-Encoding: chunked` (so no length counts) and `wsgi.input_terminated`."""
    return {
        "data": body,
        "content_type": content_type,
        "headers": {"Transfer-Encoding": "chunked"},
        "environ_overrides": {"wsgi.input_terminated": True},
    }

"""One JSON error shape for every error: {code, status, message, errors?}.

flask-smorest answers HTTP errors as JSON already; `CensusApi` adds a human message to
every one of them (and the Allow header to 405s), and `handle_unexpected` gives uncaught
exceptions the same shape while their traceback goes to the log only.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: "The request body is not valid JSON.",
    404: "No such endpoint; see /openapi.json for the API.",
    413: "The request body is too large.",
    422: "Some fields are invalid; see 'errors' for a message per field.",
}


class CensusApi(Api):
    """flask-smorest's Api with a message on every error."""

    def handle_http_exception(self, error: HTTPException):
        payload, code, headers = super().handle_http_exception(error)
        payload.setdefault("message", MESSAGES.get(code) or error.description)
        headers = dict(headers or {})
        for name, value in error.get_headers():
            if name.lower() == "allow":
                headers[name] = value
        return payload, code, headers


def handle_unexpected(exc: Exception):
    """500 with the standard body; the traceback is logged, never sent."""
    if isinstance(exc, HTTPException):
        return exc
    current_app.logger.exception("unhandled error")
    err = InternalServerError()
    body = {"code": err.code, "status": err.name, "message": "Internal error; logged."}
    return jsonify(body), err.code


def register_error_handlers(app: Flask) -> None:
    """Catch-all for exceptions that are not HTTP errors."""
    app.register_error_handler(Exception, handle_unexpected)

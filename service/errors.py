"""One JSON error shape for every error: {code, status, message, errors?}.

flask-smorest answers HTTP errors as JSON already; `ServiceApi` adds a human message to
every one of them (and the Allow header to 405s) and keeps their `errors` a few KB
whatever the request held, and `handle_unexpected` gives uncaught exceptions the same
shape while their traceback goes to the log only.
"""

from __future__ import annotations

from collections import Counter
from http import HTTPStatus
from typing import Any

from apispec import BasePlugin
from flask import Flask, current_app, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError

MESSAGES = {
    400: "The request body is not valid JSON.",
    404: "No such endpoint; see /openapi.json for the API.",
    413: "The request body is too large.",
    422: "Some fields are invalid; see 'errors' for a message per field.",
}


# The entries a request can multiply in a 422's errors (a batch's invalid records, a
# record's unknown fields): this many of each are shown per level, the rest counted.
SHOWN = 5
# Unknown field names are echoed back; longer ones are cut to this many characters.
NAME_SHOWN = 64
UNKNOWN_FIELD = ["Unknown field."]  # marshmallow's message for a field it does not know
RECORDS, UNKNOWN = "invalid records", "unknown fields"


def crowd(key: Any, messages: Any) -> str | None:
    """Which kind of request-made entry this is (RECORDS, UNKNOWN), or None for one the
    schema defines (a feature, `_schema`)."""
    if isinstance(key, int):  # marshmallow keys a list's errors by item index
        return RECORDS
    return UNKNOWN if messages == UNKNOWN_FIELD else None


def shown_key(key: Any, kind: str | None) -> Any:
    """A key as the error body shows it: a record's index as text (JSON's own spelling,
    sortable next to `_more`), a long unknown field name cut short."""
    if kind == RECORDS:
        return str(key)
    if kind == UNKNOWN and len(key) > NAME_SHOWN:
        return f"{key[:NAME_SHOWN]}... ({len(key)} characters)"
    return key


def bounded_errors(errors: Any) -> Any:
    """`errors` with at most SHOWN invalid records and SHOWN unknown fields per level;
    how many more there are goes under `_more`."""
    if not isinstance(errors, dict):
        return errors
    out, seen = {}, Counter()
    for key, messages in errors.items():
        kind = crowd(key, messages)
        seen[kind] += 1
        if kind is None or seen[kind] <= SHOWN:
            out[shown_key(key, kind)] = bounded_errors(messages)
    more = [
        f"{n - SHOWN} more {kind} not shown."
        for kind, n in seen.items()
        if kind is not None and n > SHOWN
    ]
    if more:
        out["_more"] = more
    return out


# What an operation with a JSON body can answer besides 200 and 422, documented so that
# clients (and the contract fuzzer) know every status the server uses.
BODY_ERRORS = (400, 413, 415)


class ErrorResponsesPlugin(BasePlugin):
    """Documents 400, 413 and 415 on every operation that takes a request body."""

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            if "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for code in BODY_ERRORS:
                    responses.setdefault(str(code), HTTPStatus(code).name)


class ServiceApi(Api):
    """flask-smorest's Api with a message on every error and every error documented."""

    def init_app(self, app: Flask, *, spec_kwargs=None) -> None:
        from service.security import BearerAuthPlugin

        plugins = [ErrorResponsesPlugin()]
        if app.config.get("API_TOKEN"):
            plugins.append(BearerAuthPlugin())
        super().init_app(
            app, spec_kwargs={"extra_plugins": plugins, **(spec_kwargs or {})}
        )

    def handle_http_exception(self, error: HTTPException):
        payload, code, headers = super().handle_http_exception(error)
        payload.setdefault("message", MESSAGES.get(code) or error.description)
        if "errors" in payload:
            payload["errors"] = bounded_errors(payload["errors"])
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

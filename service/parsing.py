"""Request bodies: every body that is not usable JSON is a 400, never a 500.

webargs turns a JSON syntax error into 400 but lets two other parse failures escape as
500s: an integer literal longer than Python's 4,300-digit limit (ValueError) and nesting
deeper than the decoder's recursion limit (RecursionError). An empty body would pass as
"no fields" and come back as one missing-field error per feature; it is told apart here.
A chunked body (no Content-Length) that runs past MAX_CONTENT_LENGTH is a 413: werkzeug
would hand over its first MAX_CONTENT_LENGTH bytes as if they were the whole body.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask_smorest import Blueprint, abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

EMPTY_BODY = "The request body is empty; send a JSON object."


def read_body(req: Request) -> bytes:
    """The request body; 413 if a chunked one runs past the size limit.

    werkzeug stops reading a body without Content-Length at MAX_CONTENT_LENGTH and
    returns what it has; one more byte from the server's stream tells a body that ends
    exactly there from one that goes on (the server ends that stream itself: it sets
    wsgi.input_terminated, else werkzeug reads nothing at all).
    """
    data = req.get_data(cache=True)
    limit = req.max_content_length
    if req.content_length is None and limit is not None and len(data) >= limit:
        if req.input_stream.read(1):
            abort(413)
    return data


def parse_json_body(data: bytes) -> Any:
    """Decode a JSON body; any failure is a json.JSONDecodeError (so a 400)."""
    try:
        return core.parse_json(data)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        # 4,300+ digit integers, nesting past the recursion limit.
        raise json.JSONDecodeError(f"unusable JSON: {exc}", "<body>", 0) from exc


class JsonBodyParser(FlaskParser):
    """webargs' Flask parser, with the extra 400s above."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = read_body(req)
        if not data.strip():
            abort(400, message=EMPTY_BODY, errors={"json": ["Empty body."]})
        return parse_json_body(data)


class JsonBlueprint(Blueprint):
    """flask-smorest's Blueprint parsing request bodies with JsonBodyParser."""

    ARGUMENTS_PARSER = JsonBodyParser()

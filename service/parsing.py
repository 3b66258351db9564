"""Request bodies: every body that is not usable JSON is a 400, never a 500.

webargs turns a JSON syntax error into 400 but lets two other parse failures escape as
500s: an integer literal longer than Python's 4,300-digit limit (ValueError) and nesting
deeper than the decoder's recursion limit (RecursionError). An empty body would pass as
"no fields" and come back as one missing-field error per feature; it is told apart here.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Request
from flask_smorest import Blueprint, abort
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

EMPTY_BODY = "The request body is empty; send a JSON object."


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
        data = req.get_data(cache=True)
        if not data.strip():
            abort(400, message=EMPTY_BODY, errors={"json": ["Empty body."]})
        return parse_json_body(data)


class JsonBlueprint(Blueprint):
    """flask-smorest's Blueprint parsing request bodies with JsonBodyParser."""

    ARGUMENTS_PARSER = JsonBodyParser()

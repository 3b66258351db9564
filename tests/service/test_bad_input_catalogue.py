"""The bad-input catalogue: every kind of hostile or broken request, its status and message.

Each case is sent through the real app; none may produce a 5xx, each must come back in
the one error shape with the expected status and message, and no request may make the
process allocate more than a bounded amount of memory.
"""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

JSON = "application/json"
LIMIT = 50  # the `app` fixture's BATCH_LIMIT
# Peak Python allocation allowed while answering one request (the largest body is 2 MiB).
MEMORY_BOUND = 16 * 1024 * 1024
INVALID_JSON = "The request body is not valid JSON."
INVALID_FIELDS = "Some fields are invalid; see 'errors' for a message per field."
RANGE = "Must be greater than or equal to {} and less than or equal to {}."
EMPTY = "The request body is empty; send a JSON object."
NOT_JSON = "Content-Type must be application/json."
TOO_LARGE = "The request body is too large."
BATCH = "/predict/batch"
BATCH_SIZE = [f"Send between 1 and {LIMIT} records."]


@dataclass
class Case:
    """One bad request and what the API must answer."""

    name: str
    status: int
    message: str
    # Builds the request kwargs for the test client from the example record.
    request: Callable[[dict], dict[str, Any]]
    path: str = "/predict"
    # Expected `errors` (None: not checked); a callable receives the errors dict.
    errors: Any = None
    headers: dict = field(default_factory=dict)


def raw(text: str | bytes, content_type: str | None = JSON) -> Callable[[dict], dict]:
    def build(_: dict) -> dict:
        kwargs: dict[str, Any] = {"data": text}
        if content_type:
            kwargs["content_type"] = content_type
        return kwargs

    return build


def record_with(**changes) -> Callable[[dict], dict]:
    """The example record with fields replaced (hyphens written as __)."""

    def build(example: dict) -> dict:
        body = {**example, **{k.replace("__", "-"): v for k, v in changes.items()}}
        return {"json": body}

    return build


def record_text(replace: str, by: str) -> Callable[[dict], dict]:
    """The example record as JSON text with one literal swapped (for non-JSON values)."""

    def build(example: dict) -> dict:
        text = json.dumps(example)
        assert replace in text
        return {"data": text.replace(replace, by, 1), "content_type": JSON}

    return build


def field_errors(expected: dict) -> Callable[[dict], bool]:
    return lambda errors: errors == {"json": expected}


CATALOGUE = [
    Case("malformed JSON", 400, INVALID_JSON, raw('{"age": '),
         errors={"json": ["Invalid JSON body."]}),
    Case("empty body", 400, EMPTY, raw(b"")),
    Case("whitespace-only body", 400, EMPTY, raw(b"  \n")),
    Case("missing Content-Type", 415, NOT_JSON, raw(b'{"age": 1}', None)),
    Case("wrong Content-Type", 415, NOT_JSON, raw(b'{"age": 1}', "text/plain")),
    Case("form-encoded body", 415, NOT_JSON,
         raw(b"age=1", "application/x-www-form-urlencoded")),
    Case("non-UTF-8 body", 400, INVALID_JSON, raw('{"sex": "M\xe4le"}'.encode("latin-1"))),
    Case("UTF-16 body", 400, INVALID_JSON, raw('{"age": 1}'.encode("utf-16"))),
    Case("string for a number", 422, INVALID_FIELDS, record_with(age="39"),
         errors=field_errors({"age": ["Not a valid integer."]})),
    Case("float for an integer", 422, INVALID_FIELDS, record_with(age=39.5),
         errors=field_errors({"age": ["Not a valid integer."]})),
    Case("number for a category", 422, INVALID_FIELDS, record_with(sex=1),
         errors=field_errors({"sex": ["Not a valid string."]})),
    Case("boolean for a number", 422, INVALID_FIELDS, record_with(hours__per__week=True),
         errors=field_errors({"hours-per-week": ["Not a valid integer."]})),
    Case("NaN", 422, INVALID_FIELDS, record_text('"age": ', '"age": NaN, "x": '),
         errors=lambda e: e["json"]["age"] == ["Not a valid integer."]),
    Case("Infinity", 422, INVALID_FIELDS, record_text('"fnlgt": ', '"fnlgt": -Infinity, "y": '),
         errors=lambda e: e["json"]["fnlgt"] == ["Not a valid integer."]),
    Case("huge integer", 422, INVALID_FIELDS, record_with(capital__gain=10**30),
         errors=field_errors({"capital-gain": [RANGE.format(0, 100000)]})),
    Case("integer longer than Python parses", 400, INVALID_JSON,
         record_text('"age": ', '"age": ' + "9" * 5000 + ', "z": ')),
    Case("negative age", 422, INVALID_FIELDS, record_with(age=-3),
         errors=field_errors({"age": [RANGE.format(16, 100)]})),
    Case("1 MB string", 422, INVALID_FIELDS, record_with(workclass="A" * 1_000_000),
         errors=lambda e: list(e["json"]) == ["workclass"] and len(json.dumps(e)) < 2000),
    Case("unknown category", 422, INVALID_FIELDS, record_with(education="Astrophysics"),
         errors=lambda e: e["json"]["education"][0].startswith("Must be one of: ")),
    Case("null for a required category", 422, INVALID_FIELDS, record_with(sex=None),
         errors=field_errors({"sex": ["Field may not be null."]})),
    Case("extra field", 422, INVALID_FIELDS, record_with(salary=">50K"),
         errors=field_errors({"salary": ["Unknown field."]})),
    Case("missing field", 422, INVALID_FIELDS,
         lambda ex: {"json": {k: v for k, v in ex.items() if k != "race"}},
         errors=field_errors({"race": ["Missing data for required field."]})),
    Case("array instead of an object", 422, INVALID_FIELDS, lambda ex: {"json": [ex]},
         errors=field_errors({"_schema": ["Invalid input type."]})),
    Case("JSON null body", 422, INVALID_FIELDS, raw(b"null"),
         errors=field_errors({"_schema": ["Invalid input type."]})),
    Case("nested garbage in fields", 422, INVALID_FIELDS,
         record_with(age={"$gt": 1}, sex=[[["Male"]]]),
         errors=field_errors({"age": ["Not a valid integer."], "sex": ["Not a valid string."]})),
    Case("nesting deeper than the parser's stack", 400, INVALID_JSON,
         raw("[" * 100_000 + "]" * 100_000)),
    Case("empty batch", 422, INVALID_FIELDS, lambda ex: {"json": {"records": []}}, path=BATCH,
         errors=field_errors({"records": BATCH_SIZE})),
    Case("batch over the limit", 422, INVALID_FIELDS,
         lambda ex: {"json": {"records": [ex] * (LIMIT + 1)}},
         path=BATCH, errors=field_errors({"records": BATCH_SIZE})),
    Case("batch of garbage", 422, INVALID_FIELDS, lambda ex: {"json": {"records": [1, None, ex]}},
         path=BATCH,
         errors=field_errors({"records": {"0": {"_schema": ["Invalid input type."]},
                                          "1": ["Field may not be null."]}})),
    Case("records not a list", 422, INVALID_FIELDS, lambda ex: {"json": {"records": ex}},
         path=BATCH,
         errors=field_errors({"records": ["Not a valid list."]})),
    Case("body over the size limit", 413, TOO_LARGE,
         lambda ex: {"data": b"[" + b" " * (2 * 1024 * 1024) + b"]", "content_type": JSON}),
    Case("body over the size limit on a batch", 413, TOO_LARGE,
         lambda ex: {"json": {"records": [ex] * 5000}}, path=BATCH),
]  # fmt: skip


@pytest.fixture(scope="module")
def catalogue_client(loaded_model):
    from service import create_app

    app = create_app(
        {"TESTING": True, "BATCH_LIMIT": LIMIT, "LOG_LEVEL": "WARNING"},
        model=loaded_model,
    )
    return app.test_client()


def test_the_catalogue_covers_the_issues_list():
    assert len(CATALOGUE) >= 30
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_bad_input_gets_its_status_and_message_in_bounded_memory(
    catalogue_client, example_record, case
):
    kwargs = case.request(example_record)
    tracemalloc.start()
    try:
        r = catalogue_client.post(case.path, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body = r.get_json()
    print(f"{case.name}: {r.status_code}, peak {peak / 2**20:.2f} MiB")
    assert r.status_code == case.status, body
    assert body["code"] == case.status
    assert body["message"] == case.message
    if callable(case.errors):
        assert case.errors(body.get("errors")), body.get("errors")
    elif case.errors is not None:
        assert body["errors"] == case.errors
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB"

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

from testkit.records import Roles, copies_past, unknown_category
from testkit.wsgi import chunked
from testkit.markers import not_for_this_data

JSON = "application/json"
LIMIT = 50  # the `app` fixture's BATCH_LIMIT
# Peak Python allocation allowed while answering one request (the largest body is 2 MiB).
MEMORY_BOUND = 16 * 1024 * 1024
INVALID_JSON = "The request body is not valid JSON."
INVALID_FIELDS = "Some fields are invalid; see 'errors' for a message per field."
EMPTY = "The request body is empty; send a JSON object."
NOT_JSON = "Content-Type must be application/json."
TOO_LARGE = "The request body is too large."
BATCH = "/predict/batch"


def batch_size(count: int) -> dict:
    """The errors of a batch of `count` records, too few or too many."""
    message = f"Send between 1 and {LIMIT} records; this batch has {count}."
    return {"json": {"records": [message]}}


def bounded(errors: dict) -> bool:
    """A few KB of errors, however many the request made."""
    return len(json.dumps(errors)) < 8192


@dataclass(frozen=True)
class Ctx:
    """What a case builds its request from: the example record and the field roles."""

    example: dict
    roles: Roles
    target: str
    last_feature: str
    body_limit: int  # the app's MAX_CONTENT_LENGTH, bytes

    @property
    def records_over_limit(self) -> int:
        """Copies of the example whose batch body is past the limit, however narrow."""
        return copies_past(self.body_limit, self.example)

    def field(self, role: str):
        rule = getattr(self.roles, role)
        if rule is None:
            not_for_this_data(f"it has no {role} feature")
        return rule


@dataclass
class Case:
    """One bad request and what the API must answer."""

    name: str
    status: int
    message: str
    # Builds the request kwargs for the test client from the context.
    request: Callable[[Ctx], dict[str, Any]]
    path: str = "/predict"
    # Expected `errors` (None: not checked); a callable receives (errors, ctx).
    errors: Any = None
    headers: dict = field(default_factory=dict)


def raw(text: str | bytes, content_type: str | None = JSON) -> Callable[[Ctx], dict]:
    def build(_: Ctx) -> dict:
        kwargs: dict[str, Any] = {"data": text}
        if content_type:
            kwargs["content_type"] = content_type
        return kwargs

    return build


def record_with(**changes: Callable[[Any], Any]) -> Callable[[Ctx], dict]:
    """The example record with the feature of each role given a value (a function of
    the feature's rule)."""

    def build(ctx: Ctx) -> dict:
        body = dict(ctx.example)
        for role, value in changes.items():
            rule = ctx.field(role)
            body[rule.name] = value(rule)
        return {"json": body}

    return build


def record_text(role: str, literal: str) -> Callable[[Ctx], dict]:
    """The example record as JSON text with one field's value written as `literal`
    (for values JSON itself does not have)."""

    def build(ctx: Ctx) -> dict:
        name = ctx.field(role).name
        text = json.dumps({**ctx.example, name: "@@"})
        return {"data": text.replace('"@@"', literal, 1), "content_type": JSON}

    return build


def field_errors(expected: dict[str, Callable[[Any], list[str]]]) -> Callable:
    """errors == {"json": {field of role: messages(rule)}}."""

    def check(errors: dict, ctx: Ctx) -> bool:
        want = {
            ctx.field(role).name: message(ctx.field(role))
            for role, message in expected.items()
        }
        return errors == {"json": want}

    return check


def const(value: Any) -> Callable[[Any], Any]:
    return lambda rule: value


CATALOGUE = [
    Case("malformed JSON", 400, INVALID_JSON, raw('{"a": '),
         errors={"json": ["Invalid JSON body."]}),
    Case("empty body", 400, EMPTY, raw(b"")),
    Case("whitespace-only body", 400, EMPTY, raw(b"  \n")),
    Case("missing Content-Type", 415, NOT_JSON, raw(b'{"a": 1}', None)),
    Case("wrong Content-Type", 415, NOT_JSON, raw(b'{"a": 1}', "text/plain")),
    Case("form-encoded body", 415, NOT_JSON,
         raw(b"a=1", "application/x-www-form-urlencoded")),
    Case("non-UTF-8 body", 400, INVALID_JSON, raw('{"a": "M\xe4le"}'.encode("latin-1"))),
    Case("UTF-16 body", 400, INVALID_JSON, raw('{"a": 1}'.encode("utf-16"))),
    Case("string for an integer", 422, INVALID_FIELDS,
         record_with(integer=lambda r: str(int(r.minimum))),
         errors=field_errors({"integer": const(["Not a valid integer."])})),
    Case("float for an integer", 422, INVALID_FIELDS,
         record_with(integer=lambda r: r.minimum + 0.5),
         errors=field_errors({"integer": const(["Not a valid integer."])})),
    # A number may be a code ("1"), so one that is none of the codes gets the choices.
    Case("number for a category", 422, INVALID_FIELDS,
         record_with(category=const(-1.5)),
         errors=field_errors({"category": lambda rule: [rule.choices_message]})),
    Case("boolean for a category", 422, INVALID_FIELDS,
         record_with(category=const(True)),
         errors=field_errors({"category": const(["Not a valid string."])})),
    Case("boolean for a number", 422, INVALID_FIELDS, record_with(numeric=const(True)),
         errors=lambda e, ctx: list(e["json"]) == [ctx.field("numeric").name]),
    Case("NaN", 422, INVALID_FIELDS, record_text("numeric", "NaN"),
         errors=lambda e, ctx: list(e["json"]) == [ctx.field("numeric").name]),
    Case("Infinity", 422, INVALID_FIELDS, record_text("numeric", "-Infinity"),
         errors=lambda e, ctx: list(e["json"]) == [ctx.field("numeric").name]),
    Case("huge integer", 422, INVALID_FIELDS, record_with(numeric=const(10**30)),
         errors=field_errors({"numeric": lambda r: [r.range_message]})),
    Case("integer literal past the parser's digit limit", 400, INVALID_JSON,
         record_text("numeric", "9" * 5000)),
    Case("number below its minimum", 422, INVALID_FIELDS,
         record_with(numeric=lambda r: int(r.minimum) - 1),
         errors=field_errors({"numeric": lambda r: [r.range_message]})),
    Case("1 MB string", 422, INVALID_FIELDS, record_with(category=const("A" * 1_000_000)),
         errors=lambda e, ctx: list(e["json"]) == [ctx.field("category").name]
         and len(json.dumps(e)) < 20000),
    Case("unknown category", 422, INVALID_FIELDS,
         record_with(category=unknown_category),
         errors=field_errors({"category": lambda r: [r.choices_message]})),
    Case("null for a required category", 422, INVALID_FIELDS,
         record_with(category=const(None)),
         errors=field_errors({"category": const(["Field may not be null."])})),
    Case("extra field", 422, INVALID_FIELDS,
         lambda ctx: {"json": {**ctx.example, ctx.target: "x"}},
         errors=lambda e, ctx: e == {"json": {ctx.target: ["Unknown field."]}}),
    Case("missing field", 422, INVALID_FIELDS,
         lambda ctx: {"json": {k: v for k, v in ctx.example.items()
                               if k != ctx.last_feature}},
         errors=lambda e, ctx: e == {"json": {ctx.last_feature: [
             "Missing data for required field."]}}),
    Case("array instead of an object", 422, INVALID_FIELDS,
         lambda ctx: {"json": [ctx.example]},
         errors={"json": {"_schema": ["Invalid input type."]}}),
    Case("JSON null body", 422, INVALID_FIELDS, raw(b"null"),
         errors={"json": {"_schema": ["Invalid input type."]}}),
    Case("nested garbage in fields", 422, INVALID_FIELDS,
         record_with(integer=const({"$gt": 1}), category=const([[["x"]]])),
         errors=field_errors({"integer": const(["Not a valid integer."]),
                              "category": const(["Not a valid string."])})),
    Case("nesting deeper than the parser's stack", 400, INVALID_JSON,
         raw("[" * 100_000 + "]" * 100_000)),
    Case("empty batch", 422, INVALID_FIELDS, lambda ctx: {"json": {"records": []}},
         path=BATCH, errors=batch_size(0)),
    Case("batch over the limit", 422, INVALID_FIELDS,
         lambda ctx: {"json": {"records": [ctx.example] * (LIMIT + 1)}},
         path=BATCH, errors=batch_size(LIMIT + 1)),
    Case("300,000 records, refused by their count", 422, INVALID_FIELDS,
         raw(b'{"records": [' + b",".join([b"0"] * 300_000) + b"]}"),
         path=BATCH, errors=batch_size(300_000)),
    Case("every record of a full batch invalid", 422, INVALID_FIELDS,
         lambda ctx: {"json": {"records": [{}] * LIMIT}}, path=BATCH,
         errors=lambda e, ctx: bounded(e) and e["json"]["records"]["_more"] == [
             f"{LIMIT - 5} more invalid records not shown."]),
    Case("20,000 unknown fields", 422, INVALID_FIELDS,
         lambda ctx: {"json": {**ctx.example, **{f"u{i}": 0 for i in range(20_000)}}},
         errors=lambda e, ctx: bounded(e) and e["json"]["_more"] == [
             "19995 more unknown fields not shown."]),
    Case("a 500,000-character field name", 422, INVALID_FIELDS,
         lambda ctx: {"json": {**ctx.example, "A" * 500_000: 0}},
         errors=lambda e, ctx: bounded(e)
         and list(e["json"]) == ["A" * 64 + "... (500000 characters)"]),
    Case("batch of garbage", 422, INVALID_FIELDS,
         lambda ctx: {"json": {"records": [1, None, ctx.example]}},
         path=BATCH,
         errors={"json": {"records": {"0": {"_schema": ["Invalid input type."]},
                                      "1": ["Field may not be null."]}}}),
    Case("records not a list", 422, INVALID_FIELDS,
         lambda ctx: {"json": {"records": ctx.example}},
         path=BATCH, errors={"json": {"records": ["Not a valid list."]}}),
    Case("body over the size limit", 413, TOO_LARGE,
         lambda ctx: {"data": b"[" + b" " * (2 * 1024 * 1024) + b"]",
                      "content_type": JSON}),
    Case("body over the size limit on a batch", 413, TOO_LARGE,
         lambda ctx: {"json": {"records": [ctx.example] * ctx.records_over_limit}},
         path=BATCH),
    Case("chunked body over the size limit", 413, TOO_LARGE,
         lambda ctx: chunked(json.dumps(ctx.example).encode() + b" " * 2**21)),
]  # fmt: skip


@pytest.fixture(scope="module")
def catalogue_client(loaded_model):
    from service import create_app

    from service.settings import Settings

    app = create_app(
        {"TESTING": True, "BATCH_LIMIT": LIMIT, "LOG_LEVEL": "WARNING"},
        model=loaded_model,
        settings=Settings(),
    )
    return app.test_client()


@pytest.fixture(scope="module")
def ctx(loaded_model, example_record, catalogue_client) -> Ctx:
    return Ctx(
        example_record,
        Roles.of(loaded_model.features),
        loaded_model.metadata.target.column,
        loaded_model.features[-1].name,
        catalogue_client.application.config["MAX_CONTENT_LENGTH"],
    )


def test_the_catalogue_covers_the_issues_list():
    assert len(CATALOGUE) >= 30
    assert len({c.name for c in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.name)
def test_bad_input_gets_its_status_and_message_in_bounded_memory(
    catalogue_client, ctx, case
):
    kwargs = case.request(ctx)
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
        assert case.errors(body.get("errors"), ctx), body.get("errors")
    elif case.errors is not None:
        assert body["errors"] == case.errors
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.1f} MiB"

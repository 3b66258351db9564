"""Smoke-test a running service at any URL, whatever data set its model was trained on.

`python smoke_test.py https://<app>.herokuapp.com` (or `make smoke URL=...`)

Checks GET /, GET /health (and prints the deployed model version), then takes the records
the deployed model publishes in its OpenAPI spec (one of each class, bar a class the
model predicted for no test record, or a regression's low, median and high target, and
one broken, each with the answer to expect) and POSTs them to /predict: each class must
come back with its label and a probability (a multiclass model's, its task named by
/health: every class's too, each in [0, 1], summing to 1), each regression record with
its value (a finite number), the broken record with a 422 naming the broken field. The
first request is retried (bounded) while a sleeping dyno wakes up. Prints one line per
check and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import requests

PREDICT = "/predict"
# A regression's value may differ from the published one in its last float32 bits on
# another onnxruntime build: this share of its size (bundle/store.py's self-check too).
VALUE_TOLERANCE = 1e-5
# How far a multiclass answer's probabilities may sum from 1 (float32 rounding).
SUM_TOLERANCE = 1e-4


class CheckFailed(AssertionError):
    """A check saw something other than what a healthy service answers."""


@dataclass
class Smoke:
    """One smoke run against `base` with a per-request timeout."""

    base: str
    timeout: float = 10.0
    # The service's API_TOKEN when auth is on: sent as a bearer token.
    token: str | None = None
    # The model's task as GET /health names it (absent for a binary model).
    task: str = "binary"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str) -> requests.Response:
        return requests.get(
            self.base + path, timeout=self.timeout, headers=self.headers()
        )

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(
            self.base + path, json=body, timeout=self.timeout, headers=self.headers()
        )


def expect(condition: bool, message: str) -> None:
    """Fail the current check with `message` unless `condition` holds."""
    if not condition:
        raise CheckFailed(message)


def json_of(response: requests.Response) -> dict:
    """The JSON body, or a failed check quoting what came instead."""
    try:
        body = response.json()
    except ValueError:
        raise CheckFailed(
            f"HTTP {response.status_code}, not JSON: {response.text[:120]!r}"
        )
    expect(isinstance(body, dict), f"expected a JSON object, got {body!r:.120}")
    return body


def wait_until_up(smoke: Smoke, attempts: int, delay: float) -> str:
    """GET / until it answers 200 (a sleeping dyno takes a few seconds to wake)."""
    last = "no answer"
    for attempt in range(1, attempts + 1):
        try:
            response = smoke.get("/")
            if response.status_code == 200:
                body = json_of(response)
                return f"200 after {attempt} attempt(s), version {body.get('version')}"
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if attempt < attempts:
            time.sleep(delay)
    raise CheckFailed(f"not up after {attempts} attempts ({last})")


def check_health(smoke: Smoke) -> str:
    """GET /health is 200 with status ok and names the deployed model."""
    response = smoke.get("/health")
    body = json_of(response)
    expect(response.status_code == 200, f"HTTP {response.status_code}: {body}")
    expect(body.get("status") == "ok", f"status {body.get('status')!r}, not 'ok'")
    model = body.get("model") or {}
    expect(bool(model.get("version")), "no model version in /health")
    smoke.task = model.get("task", "binary")
    task = "" if smoke.task == "binary" else f"{smoke.task} "
    return f"{task}model {model['version']} (service {body.get('service_version')})"


def published_examples(smoke: Smoke) -> dict[str, dict]:
    """The named request examples of POST /predict in the service's OpenAPI spec."""
    response = smoke.get("/openapi.json")
    spec = json_of(response)
    expect(
        response.status_code == 200, f"GET /openapi.json: HTTP {response.status_code}"
    )
    try:
        body = spec["paths"][PREDICT]["post"]["requestBody"]["content"]
        examples = body["application/json"]["examples"]
    except (KeyError, TypeError):
        raise CheckFailed("the spec publishes no examples for POST /predict")
    usable = {k: v for k, v in examples.items() if "x-expected" in v and "value" in v}
    expect(bool(usable), "the spec's examples carry no expected answers")
    return usable


def check_example(smoke: Smoke, example: dict) -> str:
    """POST one published example; its expected label, or its expected 422."""
    want = example["x-expected"]
    response = smoke.post(PREDICT, example["value"])
    body = json_of(response)
    status = want.get("status", 200)
    expect(response.status_code == status, f"HTTP {response.status_code}: {body}")
    if status == 422:
        errors = (body.get("errors") or {}).get("json") or {}
        field = want.get("field")
        expect(field in errors, f"422 does not name {field!r}: {body}")
        return f"422 naming {field!r}: {errors[field][0]}"
    got, p = body.get("prediction"), body.get("probability")
    if is_number(want.get("prediction")):
        return check_value(got, want["prediction"])
    expect(got == want.get("prediction"), f"predicted {got!r}, expected {want}")
    expect(
        isinstance(p, (int, float)) and 0 <= p <= 1, f"probability {p!r} not in [0,1]"
    )
    if smoke.task == "multiclass":
        check_probabilities(body.get("probabilities"), got, p)
    return f"{got} (p={p:.3f})"


def check_probabilities(probabilities, got: str, p: float) -> None:
    """A multiclass answer's every class's probability: each in [0, 1], summing to 1,
    the predicted class's the answered probability and the highest."""
    expect(
        isinstance(probabilities, dict) and len(probabilities) > 2,
        f"probabilities {probabilities!r} is not every class's",
    )
    values = list(probabilities.values())
    expect(
        all(is_number(v) and 0 <= v <= 1 for v in values),
        f"probabilities {probabilities} not all in [0,1]",
    )
    total = sum(values)
    expect(abs(total - 1) <= SUM_TOLERANCE, f"probabilities sum to {total:.6g}, not 1")
    expect(
        probabilities.get(got) == p == max(values),
        f"probability {p!r} is not the highest, {got!r}'s, in {probabilities}",
    )


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_value(got, want: float) -> str:
    """A regression's answer: the published value, to VALUE_TOLERANCE of its size."""
    expect(is_number(got) and math.isfinite(got), f"{got!r} is not a finite number")
    close = abs(got - want) <= VALUE_TOLERANCE * max(1, abs(want))
    expect(close, f"predicted {got!r}, expected {want!r}")
    return f"{got:.6g}"


def checks(smoke: Smoke, attempts: int, delay: float) -> list[tuple[str, Callable]]:
    """The first checks, in order, as (name, thunk returning a detail line); the
    example checks are added once the spec has been read."""
    return [
        ("GET /", lambda: wait_until_up(smoke, attempts, delay)),
        ("GET /health", lambda: check_health(smoke)),
    ]


def example_checks(smoke: Smoke) -> list[tuple[str, Callable]]:
    """One check per published example."""
    return [
        (f"POST {PREDICT} {name}", lambda ex=example: check_example(smoke, ex))
        for name, example in published_examples(smoke).items()
    ]


def run(
    base: str,
    attempts: int = 10,
    delay: float = 3.0,
    timeout: float = 10.0,
    token: str | None = None,
) -> int:
    """Run every check against `base`, print a report; the number of failures."""
    smoke = Smoke(base.rstrip("/"), timeout, token)
    print(f"smoke test of {smoke.base}")
    failures = 0
    pending = checks(smoke, attempts, delay)
    pending.append(("GET /openapi.json examples", lambda: add_examples(smoke, pending)))
    for name, check in pending:
        try:
            detail = check()
            print(f"  PASS  {name:<28} {detail}")
        except (CheckFailed, requests.RequestException) as exc:
            failures += 1
            print(f"  FAIL  {name:<28} {exc}")
            if name == "GET /":
                print("  (service unreachable: skipping the other checks)")
                return failures
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return failures


def add_examples(smoke: Smoke, pending: list) -> str:
    """Read the published examples and queue a check for each."""
    found = example_checks(smoke)
    pending.extend(found)
    return f"{len(found)} published example(s)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL, e.g. https://my-app.herokuapp.com")
    parser.add_argument(
        "--attempts", type=int, default=10, help="tries of GET / while waking"
    )
    parser.add_argument(
        "--delay", type=float, default=3.0, help="seconds between tries"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per request, s")
    parser.add_argument(
        "--token",
        default=os.environ.get("API_TOKEN") or None,
        help="bearer token if the service has API_TOKEN set (default: $API_TOKEN)",
    )
    args = parser.parse_args(argv)
    failures = run(args.url, args.attempts, args.delay, args.timeout, args.token)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

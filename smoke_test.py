"""Smoke-test a running census-service at any URL.

`python smoke_test.py https://<app>.herokuapp.com` (or `make smoke URL=...`)

Checks GET /, GET /health (and prints the deployed model version), POST /predict for one
record of each class with its expected label, and that an invalid record gets a 422 naming
the bad field. The first request is retried (bounded) while a sleeping dyno wakes up.
Prints one line per check and exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import requests

HIGH_INCOME = {
    "age": 52,
    "workclass": "Self-emp-inc",
    "fnlgt": 287927,
    "education": "HS-grad",
    "education-num": 9,
    "marital-status": "Married-civ-spouse",
    "occupation": "Exec-managerial",
    "relationship": "Wife",
    "race": "White",
    "sex": "Female",
    "capital-gain": 15024,
    "capital-loss": 0,
    "hours-per-week": 40,
    "native-country": "United-States",
}
LOW_INCOME = {
    "age": 19,
    "workclass": "Private",
    "fnlgt": 226802,
    "education": "11th",
    "education-num": 7,
    "marital-status": "Never-married",
    "occupation": "Other-service",
    "relationship": "Own-child",
    "race": "White",
    "sex": "Male",
    "capital-gain": 0,
    "capital-loss": 0,
    "hours-per-week": 20,
    "native-country": "United-States",
}
# (record, expected label): one of each class, answers any sane model agrees on.
EXPECTED = [(HIGH_INCOME, ">50K"), (LOW_INCOME, "<=50K")]
INVALID_FIELD = "age"


class CheckFailed(AssertionError):
    """A check saw something other than what a healthy service answers."""


@dataclass
class Smoke:
    """One smoke run against `base` with a per-request timeout."""

    base: str
    timeout: float = 10.0
    # The service's API_TOKEN when auth is on: sent as a bearer token.
    token: str | None = None

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
    return f"model {model['version']} (service {body.get('service_version')})"


def check_prediction(smoke: Smoke, record: dict, label: str) -> str:
    """POST /predict answers the expected label with a probability."""
    response = smoke.post("/predict", record)
    body = json_of(response)
    expect(response.status_code == 200, f"HTTP {response.status_code}: {body}")
    got, p = body.get("prediction"), body.get("probability")
    expect(got == label, f"predicted {got!r}, expected {label!r} (p={p})")
    expect(
        isinstance(p, (int, float)) and 0 <= p <= 1, f"probability {p!r} not in [0,1]"
    )
    return f"{label} (p={p:.3f})"


def check_invalid(smoke: Smoke) -> str:
    """An out-of-range field gets 422 with a message under errors.json.<field>."""
    response = smoke.post("/predict", {**HIGH_INCOME, INVALID_FIELD: 300})
    body = json_of(response)
    expect(response.status_code == 422, f"HTTP {response.status_code}, expected 422")
    errors = (body.get("errors") or {}).get("json") or {}
    expect(INVALID_FIELD in errors, f"422 does not name {INVALID_FIELD!r}: {body}")
    return f"422 naming {INVALID_FIELD!r}: {errors[INVALID_FIELD][0]}"


def checks(smoke: Smoke, attempts: int, delay: float) -> list[tuple[str, Callable]]:
    """Every check, in order, as (name, thunk returning a detail line)."""
    found = [
        ("GET /", lambda: wait_until_up(smoke, attempts, delay)),
        ("GET /health", lambda: check_health(smoke)),
    ]
    for record, label in EXPECTED:
        found.append(
            (
                f"POST /predict {label}",
                lambda r=record, lab=label: check_prediction(smoke, r, lab),
            )
        )
    found.append(("POST /predict invalid", lambda: check_invalid(smoke)))
    return found


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
    for name, check in checks(smoke, attempts, delay):
        try:
            detail = check()
            print(f"  PASS  {name:<24} {detail}")
        except (CheckFailed, requests.RequestException) as exc:
            failures += 1
            print(f"  FAIL  {name:<24} {exc}")
            if name == "GET /":
                print("  (service unreachable: skipping the other checks)")
                return failures
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="base URL, e.g. https://census.herokuapp.com")
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

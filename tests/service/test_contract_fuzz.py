"""The API against its own OpenAPI spec, fuzzed with schemathesis (deterministic seed).

Positive cases are generated to fit the spec, negative ones to break it; either way the
server must answer without a 5xx, with a status the spec documents and a body matching
the documented schema. Bounded: a few hundred examples per operation and mode.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

EXAMPLES = 200
OPERATIONS = [
    ("/predict", "POST"),
    ("/predict/batch", "POST"),
    ("/health", "GET"),
    ("/", "GET"),
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def fuzz_app(loaded_model):
    from service import create_app

    # Small batches keep generated bodies (and the run) small; the limit is in the spec.
    return create_app(
        {"TESTING": True, "BATCH_LIMIT": 5, "LOG_LEVEL": "WARNING"}, model=loaded_model
    )


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def fuzz(schema, path: str, method: str, mode: GenerationMode) -> dict[int, int]:
    """Run one operation's cases through the app; return how often each status came."""
    seen: dict[int, int] = {}

    @FUZZ_SETTINGS
    @given(case=schema[path][method].as_strategy(generation_mode=mode))
    def run(case):
        response = case.call()
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code < 500, response.text
        case.validate_response(response)

    run()
    print(f"fuzzed {method} {path} ({mode.value}): statuses {seen}")
    return seen


@pytest.mark.parametrize("path, method", OPERATIONS)
def test_valid_requests_get_documented_answers_and_never_a_5xx(
    fuzz_schema, path, method
):
    seen = fuzz(fuzz_schema, path, method, GenerationMode.POSITIVE)
    assert sum(seen.values()) >= 1
    assert set(seen) == {200}, seen


@pytest.mark.parametrize("path, method", OPERATIONS[:2])
def test_invalid_requests_get_documented_4xx_and_never_a_5xx(fuzz_schema, path, method):
    seen = fuzz(fuzz_schema, path, method, GenerationMode.NEGATIVE)
    assert sum(seen.values()) >= EXAMPLES // 2
    assert all(400 <= code < 500 for code in seen), seen

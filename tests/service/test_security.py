"""Bearer-token auth (off by default) and the security headers on every response."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from service.security import bearer_token, token_matches
from service.settings import ConfigError, Settings

TOKEN = "t0ken-for-tests"


@pytest.fixture
def secured(loaded_model):
    from service import create_app

    app = create_app(
        {"TESTING": True, "API_TOKEN": TOKEN, "LOG_LEVEL": "WARNING"},
        model=loaded_model,
    )
    return app


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_auth_is_off_by_default(client, example_record):
    assert client.post("/predict", json=example_record).status_code == 200
    spec = client.get("/openapi.json").get_json()
    assert "securitySchemes" not in spec.get("components", {})


@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
    ids=["no header", "wrong token", "no scheme", "basic scheme"],
)
def test_predict_without_the_right_token_is_401_with_a_challenge(
    secured, example_record, headers
):
    r = secured.test_client().post("/predict", json=example_record, headers=headers)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    body = r.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized"
    assert "bearer token" in body["message"]


def test_the_right_token_opens_predict_batch_and_metrics(secured, example_record):
    client = secured.test_client()
    assert (
        client.post("/predict", json=example_record, headers=auth(TOKEN)).status_code
        == 200
    )
    r = client.post(
        "/predict/batch", json={"records": [example_record]}, headers=auth(TOKEN)
    )
    assert r.status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=auth(TOKEN)).status_code == 200


def test_auth_is_checked_before_the_body_is_looked_at(secured):
    r = secured.test_client().post(
        "/predict", data="not json", content_type="text/plain"
    )
    assert r.status_code == 401


def test_health_index_and_docs_stay_open_with_auth_on(secured):
    client = secured.test_client()
    for path in ("/", "/health", "/openapi.json", "/docs"):
        assert client.get(path).status_code == 200, path


def test_spec_documents_the_bearer_scheme_and_401_when_auth_is_on(secured):
    spec = secured.test_client().get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path in ("/predict", "/predict/batch"):
        op = spec["paths"][path]["post"]
        assert op["security"] == [{"bearerAuth": []}]
        assert "401" in op["responses"]
    assert "security" not in spec["paths"]["/health"]["get"]


def test_unauthenticated_fuzzed_requests_all_get_the_documented_401(secured):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", secured)
    seen = set()

    @settings(max_examples=30, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(case=schema["/predict"]["POST"].as_strategy())
    def run(case):
        response = case.call()
        seen.add(response.status_code)
        case.validate_response(response)

    run()
    assert seen == {401}


def test_an_api_token_from_a_file_ending_in_a_newline_still_opens_predict(
    loaded_model, example_record
):
    from service import create_app

    # What a Kubernetes secret made with --from-file puts in the environment.
    settings = Settings.from_env({"API_TOKEN": f"  {TOKEN}\r\n"})
    assert settings.api_token == TOKEN
    app = create_app({"TESTING": True}, model=loaded_model, settings=settings)
    client = app.test_client()
    assert client.post("/predict", json=example_record).status_code == 401
    r = client.post("/predict", json=example_record, headers=auth(TOKEN))
    assert r.status_code == 200


@pytest.mark.parametrize(
    "token",
    ["s3cret words", "s3cret\ttab", "s3cret\nline", "s3cret\x00", "s3cret\x7f", " \n"],
)
def test_an_unusable_api_token_is_refused_in_one_line_that_does_not_echo_it(token):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"API_TOKEN": token})
    message = str(refused.value)
    assert message.startswith("API_TOKEN is not valid: ")
    assert "\n" not in message
    assert "s3cret" not in message


def test_token_parsing_and_constant_time_comparison():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc")
    assert not token_matches(None, "abc")
    assert token_matches("päss", "päss")  # non-ASCII tokens compare as UTF-8 bytes


@pytest.mark.parametrize("path", ["/", "/health", "/predict", "/no-such-page", "/docs"])
def test_every_response_carries_the_security_headers(client, example_record, path):
    r = (
        client.post(path, json=example_record)
        if path == "/predict"
        else client.get(path)
    )
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
    assert r.headers["Cache-Control"] == "no-store"


def test_swagger_assets_keep_their_cache_lifetime(client):
    r = client.get("/docs/assets/swagger-ui-bundle.js")
    assert r.status_code == 200
    assert "max-age=86400" in r.headers["Cache-Control"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"

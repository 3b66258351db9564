"""The HTTP contract, through Flask's test client."""

from __future__ import annotations

import json

import pytest


def test_index_welcomes_and_links_docs_and_health(client):
    body = client.get("/").get_json()
    assert "census" in body["message"]
    assert body["links"]["docs"] == "/docs"
    assert body["links"]["health"] == "/health"


def test_health_names_service_and_model_versions(client, loaded_model):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert body["model"]["version"] == loaded_model.version
    assert body["model"]["sha256"] == loaded_model.sha256
    assert 0.5 < body["model"]["metrics"]["roc_auc"] <= 1.0


def test_health_is_503_without_a_verified_model():
    from service import create_app

    app = create_app({"TESTING": True, "LOAD_MODEL": False})
    r = app.test_client().get("/health")
    assert r.status_code == 503
    assert r.get_json()["message"] == "No verified model is loaded."


@pytest.mark.parametrize(
    "overrides, label",
    [
        ({}, "<=50K"),
        (
            {
                "age": 45,
                "education": "Doctorate",
                "education-num": 16,
                "marital-status": "Married-civ-spouse",
                "relationship": "Husband",
                "occupation": "Exec-managerial",
                "capital-gain": 99999,
                "hours-per-week": 60,
            },
            ">50K",
        ),
    ],
)
def test_predict_answers_each_class(
    client, example_record, loaded_model, overrides, label
):
    r = client.post("/predict", json={**example_record, **overrides})
    assert r.status_code == 200
    body = r.get_json()
    assert body["prediction"] == label
    assert (body["probability"] >= 0.5) == (label == ">50K")
    assert body["model_version"] == loaded_model.version


def test_predict_accepts_null_where_training_data_had_missing_values(
    client, example_record
):
    r = client.post("/predict", json={**example_record, "occupation": None})
    assert r.status_code == 200


def test_batch_answers_in_request_order(client, example_record):
    rich = {**example_record, "capital-gain": 99999, "education-num": 16}
    rich.update({"marital-status": "Married-civ-spouse", "relationship": "Husband"})
    records = [example_record, rich, example_record]
    r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 200
    preds = r.get_json()["predictions"]
    singles = [client.post("/predict", json=rec).get_json() for rec in records]
    assert [p["probability"] for p in preds] == [s["probability"] for s in singles]
    assert preds[0]["probability"] < preds[1]["probability"]


def test_batch_over_the_limit_is_422_naming_the_limit(client, example_record):
    r = client.post("/predict/batch", json={"records": [example_record] * 51})
    assert r.status_code == 422
    assert r.get_json()["errors"]["json"]["records"] == [
        "Send between 1 and 50 records."
    ]


def test_batch_errors_name_the_record_index_and_field(client, example_record):
    bad = {**example_record, "age": 300}
    r = client.post("/predict/batch", json={"records": [example_record, bad]})
    assert r.status_code == 422
    assert "age" in r.get_json()["errors"]["json"]["records"]["1"]


def errors_of(response) -> dict:
    return response.get_json()["errors"]["json"]


def test_unknown_category_is_422_listing_allowed_values(client, example_record):
    r = client.post("/predict", json={**example_record, "workclass": "Astronaut"})
    assert r.status_code == 422
    [msg] = errors_of(r)["workclass"]
    assert msg.startswith("Must be one of: ") and "Private" in msg


def test_missing_and_unknown_fields_are_named(client, example_record):
    record = {k: v for k, v in example_record.items() if k != "sex"}
    r = client.post("/predict", json={**record, "salary": ">50K"})
    assert r.status_code == 422
    assert errors_of(r) == {
        "sex": ["Missing data for required field."],
        "salary": ["Unknown field."],
    }


@pytest.mark.parametrize(
    "field, value, message",
    [
        (
            "age",
            -3,
            "Must be greater than or equal to 16 and less than or equal to 100.",
        ),
        ("age", "39", "Not a valid integer."),
        ("age", True, "Not a valid integer."),
        ("age", 39.5, "Not a valid integer."),
        ("hours-per-week", None, "Field may not be null."),
        ("sex", None, "Field may not be null."),
        ("sex", 1, "Not a valid string."),
    ],
)
def test_wrong_values_are_422_with_the_field_message(
    client, example_record, field, value, message
):
    r = client.post("/predict", json={**example_record, field: value})
    assert r.status_code == 422
    assert errors_of(r) == {field: [message]}


def test_malformed_json_is_400(client):
    r = client.post("/predict", data='{"age": ', content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["errors"] == {"json": ["Invalid JSON body."]}


def test_wrong_content_type_is_415(client, example_record):
    r = client.post(
        "/predict", data=json.dumps(example_record), content_type="text/plain"
    )
    assert r.status_code == 415
    assert r.get_json()["message"] == "Content-Type must be application/json."


def test_body_over_the_size_limit_is_413(app, example_record):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = json.dumps({"records": [example_record] * 10})
    r = app.test_client().post(
        "/predict/batch", data=body, content_type="application/json"
    )
    assert r.status_code == 413
    assert r.get_json()["status"] == "Request Entity Too Large"


def test_unknown_path_is_404_json(client):
    r = client.get("/no-such-page")
    assert r.status_code == 404
    assert r.get_json()["code"] == 404


def test_wrong_method_is_405_with_allow_header(client):
    r = client.get("/predict")
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]
    assert r.get_json()["status"] == "Method Not Allowed"


def test_unexpected_error_is_500_json_without_traceback(app, caplog):
    @app.route("/boom")
    def boom():
        raise RuntimeError("secret detail")

    r = app.test_client().get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.get_data(as_text=True)
    assert r.get_json()["message"] == "Internal error; logged."
    assert "secret detail" in caplog.text


def test_openapi_spec_documents_predict_with_an_example(client):
    spec = client.get("/openapi.json").get_json()
    op = spec["paths"]["/predict"]["post"]
    body = op["requestBody"]["content"]["application/json"]
    assert body["example"]["age"] > 0
    record = spec["components"]["schemas"]["CensusRecord"]
    assert record["properties"]["age"]["minimum"] == 16
    assert "Private" in record["properties"]["workclass"]["enum"]
    assert set(op["responses"]) >= {"200", "415", "422"}


def test_docs_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/docs").get_data(as_text=True)
    assert 'src="/docs/assets/swagger-ui-bundle.js"' in page
    assert (
        "http"
        not in page.split("<body>")[1].split("</body>")[0].replace("spec_url", "")
        or "/openapi.json" in page
    )
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and b"SwaggerUIBundle" in asset.data

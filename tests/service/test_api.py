"""The HTTP contract, through Flask's test client, for the model of any data set."""

from __future__ import annotations

import json
import time

import pytest

from testkit.records import Roles, copies_past, out_of_range, unknown_category
from testkit.wsgi import chunked
from testkit.markers import not_for_this_data


@pytest.fixture(scope="module")
def roles(loaded_model) -> Roles:
    return Roles.of(loaded_model.features)


def test_index_says_what_the_model_predicts_and_links_docs_and_health(
    client, loaded_model
):
    body = client.get("/").get_json()
    project = loaded_model.metadata.project
    assert body["message"].startswith(f"{project.name}: predicts {project.description}")
    assert body["links"]["docs"] == "/docs"
    assert body["links"]["health"] == "/health"


def test_health_names_service_and_model_versions(client, loaded_model):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "ok"
    assert body["model"]["version"] == loaded_model.version
    assert body["model"]["sha256"] == loaded_model.sha256
    assert body["model"]["project"] == loaded_model.metadata.project.name
    target = loaded_model.metadata.target
    assert body["model"]["classes"] == target.labels
    assert body["model"]["metrics"] == loaded_model.metadata.metrics


def test_health_is_503_without_a_verified_model():
    from service import create_app
    from service.settings import Settings

    app = create_app({"TESTING": True}, model=None, settings=Settings())
    r = app.test_client().get("/health")
    assert r.status_code == 503
    assert r.get_json()["message"] == "No verified model is loaded."


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_predict_answers_each_class_of_the_published_examples(client, loaded_model):
    target = loaded_model.metadata.target
    for example in loaded_model.metadata.examples.scored():
        r = client.post("/predict", json=example.record)
        assert r.status_code == 200
        body = r.get_json()
        assert body["prediction"] == example.prediction
        assert (body["probability"] >= target.threshold) == (
            example.prediction == target.positive_name
        )
        assert body["model_version"] == loaded_model.version


def test_predict_accepts_null_where_training_data_had_missing_values(
    client, example_record, roles
):
    if roles.nullable_category is None:
        not_for_this_data("no feature had missing values")
    r = client.post(
        "/predict", json={**example_record, roles.nullable_category.name: None}
    )
    assert r.status_code == 200


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_batch_answers_in_request_order(client, loaded_model):
    ex = loaded_model.metadata.examples
    records = [ex.negative.record, ex.positive.record, ex.negative.record]
    r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 200
    preds = r.get_json()["predictions"]
    singles = [client.post("/predict", json=rec).get_json() for rec in records]
    assert [p["prediction"] for p in preds] == [s["prediction"] for s in singles]
    assert [p["probability"] for p in preds] == pytest.approx(
        [s["probability"] for s in singles], abs=1e-6
    )
    assert preds[0]["probability"] < preds[1]["probability"]


def test_batch_over_the_limit_is_422_naming_the_limit_and_the_count(
    client, example_record
):
    r = client.post("/predict/batch", json={"records": [example_record] * 51})
    assert r.status_code == 422
    assert r.get_json()["errors"]["json"]["records"] == [
        "Send between 1 and 50 records; this batch has 51."
    ]


def test_a_huge_batch_is_refused_by_its_count_in_well_under_a_second_and_a_few_kb(
    client,
):
    # 300,000 empty records in ~900 KB: each one used to be validated (and its 14-odd
    # missing fields reported) before the list's length was looked at.
    body = json.dumps({"records": [{}] * 300_000}, separators=(",", ":"))
    started = time.perf_counter()
    r = client.post("/predict/batch", data=body, content_type="application/json")
    elapsed = time.perf_counter() - started
    print(f"300,000 records: {r.status_code} in {elapsed:.3f} s, {len(r.data)} bytes")
    assert r.status_code == 422
    assert errors_of(r) == {
        "records": ["Send between 1 and 50 records; this batch has 300000."]
    }
    assert len(r.data) < 4096
    assert elapsed < 1.0


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_batch_errors_show_the_first_invalid_records_and_count_the_rest(
    client, loaded_model
):
    ex = loaded_model.metadata.examples
    records = [ex.positive.record, ex.invalid_record] * 25
    r = client.post("/predict/batch", json={"records": records})
    assert r.status_code == 422
    shown = errors_of(r)["records"]
    assert list(shown) == ["1", "3", "5", "7", "9", "_more"]
    assert shown["_more"] == ["20 more invalid records not shown."]
    assert ex.invalid_field in shown["9"]


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_batch_errors_name_the_record_index_and_field(client, loaded_model):
    ex = loaded_model.metadata.examples
    r = client.post(
        "/predict/batch", json={"records": [ex.positive.record, ex.invalid_record]}
    )
    assert r.status_code == 422
    assert ex.invalid_field in r.get_json()["errors"]["json"]["records"]["1"]


def errors_of(response) -> dict:
    return response.get_json()["errors"]["json"]


def test_unknown_category_is_422_naming_the_allowed_values_briefly(
    client, example_record, loaded_model
):
    rules = [r for r in loaded_model.features if not r.numeric and not r.any_text]
    if not rules:
        not_for_this_data("it has no categorical feature that refuses unseen values")
    for rule in rules:
        r = client.post(
            "/predict", json={**example_record, rule.name: unknown_category(rule)}
        )
        assert r.status_code == 422
        [msg] = errors_of(r)[rule.name]
        if len(rule.categories) <= 10:  # a short list: every value
            assert msg == "Must be one of: " + ", ".join(rule.categories) + "."
        else:  # a long one: its count and a few values, in one short line
            assert msg.startswith(f"Must be one of {len(rule.categories)} known values")
            assert len(msg) < 200 and repr(rule.categories[0]) in msg


def test_missing_and_unknown_fields_are_named(client, example_record, loaded_model):
    dropped = loaded_model.features[-1].name
    record = {k: v for k, v in example_record.items() if k != dropped}
    target = loaded_model.metadata.target.column
    r = client.post("/predict", json={**record, target: "anything"})
    assert r.status_code == 422
    assert errors_of(r) == {
        dropped: ["Missing data for required field."],
        target: ["Unknown field."],
    }


def wrong_values(roles: Roles) -> list[tuple[str, object, str]]:
    """(field, value, message) for each rule the data set's roles let us break."""
    cases = []
    if roles.integer:
        name, rule = roles.integer.name, roles.integer
        cases += [
            (name, out_of_range(rule), rule.range_message),
            (name, str(int(rule.minimum)), "Not a valid integer."),
            (name, True, "Not a valid integer."),
            (name, rule.minimum + 0.5, "Not a valid integer."),
        ]
        if not rule.nullable:  # an imputed feature takes null: the model fills it
            cases += [(name, None, "Field may not be null.")]
    if roles.number:
        name, rule = roles.number.name, roles.number
        cases += [
            (name, out_of_range(rule), rule.range_message),
            (name, "1.5", "Not a valid number."),
            (name, False, "Not a valid number."),
        ]
    if roles.category:
        name, rule = roles.category.name, roles.category
        cases += [
            (name, None, "Field may not be null."),
            (name, True, "Not a valid string."),
            (name, [rule.categories[0]], "Not a valid string."),
        ]
        if "-1" not in rule.categories:  # a number is a code, but not one of these
            cases += [(name, -1, rule.choices_message)]
    return cases


def test_wrong_values_are_422_with_the_field_message(client, example_record, roles):
    cases = wrong_values(roles)
    assert cases
    for field, value, message in cases:
        r = client.post("/predict", json={**example_record, field: value})
        assert r.status_code == 422, (field, value)
        assert errors_of(r) == {field: [message]}, (field, value)


def test_a_whole_number_written_with_a_zero_fraction_is_taken_as_the_integer(
    client, example_record, roles
):
    if roles.integer is None:
        not_for_this_data("it has no integer feature")
    name = roles.integer.name
    whole = client.post("/predict", json=example_record).get_json()
    r = client.post(
        "/predict", json={**example_record, name: example_record[name] * 1.0}
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == whole


def test_malformed_json_is_400(client):
    r = client.post("/predict", data='{"a": ', content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["errors"] == {"json": ["Invalid JSON body."]}


def test_wrong_content_type_is_415(client, example_record):
    r = client.post(
        "/predict", data=json.dumps(example_record), content_type="text/plain"
    )
    assert r.status_code == 415
    assert r.get_json()["message"] == "Content-Type must be application/json."


def test_body_over_the_size_limit_is_413(app, example_record):
    app.config["MAX_CONTENT_LENGTH"] = limit = 1000
    body = json.dumps(
        {"records": [example_record] * copies_past(limit, example_record)}
    )
    r = app.test_client().post(
        "/predict/batch", data=body, content_type="application/json"
    )
    assert r.status_code == 413
    assert r.get_json()["status"] == "Request Entity Too Large"


def test_a_chunked_body_past_the_size_limit_is_413_not_cut_short_and_parsed(
    app, example_record
):
    record = json.dumps(example_record).encode()
    app.config["MAX_CONTENT_LENGTH"] = limit = len(record) + 10
    client = app.test_client()
    # werkzeug stops reading at the limit: a body that goes on past it would be parsed
    # from its first `limit` bytes, here the whole record and some spaces.
    at_limit = record + b" " * (limit - len(record))
    assert client.post("/predict", **chunked(at_limit)).status_code == 200
    r = client.post("/predict", **chunked(at_limit + b" "))
    assert r.status_code == 413
    assert r.get_json()["message"] == "The request body is too large."


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


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_openapi_spec_documents_predict_with_the_models_words(client, loaded_model):
    spec = client.get("/openapi.json").get_json()
    project = loaded_model.metadata.project
    assert spec["info"]["title"] == f"{project.name} API"
    op = spec["paths"]["/predict"]["post"]
    body = op["requestBody"]["content"]["application/json"]
    ex = loaded_model.metadata.examples
    assert body["examples"]["invalid"]["x-expected"] == {
        "status": 422,
        "field": ex.invalid_field,
    }
    assert body["examples"][ex.positive.prediction]["value"] == ex.positive.record
    record = spec["components"]["schemas"]["Record"]
    for rule in loaded_model.features:
        prop = record["properties"][rule.name]
        if rule.numeric:
            assert (prop["minimum"], prop["maximum"]) == (rule.minimum, rule.maximum)
        elif rule.any_text:  # unseen: group or missing: any text, said in words
            assert "enum" not in prop and "Any text" in prop["description"]
        else:
            assert set(rule.categories) <= set(prop["enum"])
    assert set(op["responses"]) >= {"200", "415", "422"}
    tags = {t["name"]: t.get("description", "") for t in spec["tags"]}
    assert tags["predict"] == f"Predict {project.description}."


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


@pytest.mark.task(
    "binary"
)  # a binary model's positive and negative examples (each task's: test_task_answers.py)
def test_a_bundle_with_an_example_of_one_class_only_serves_its_docs(trained, tmp_path):
    """A high threshold on imbalanced data can leave a class without an example: the
    bundle still loads, /docs shows the examples there are, each answered as stated."""
    import dataclasses

    from bundle.format import ROLES, read_metadata
    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings
    from training import publish

    meta = read_metadata(trained.model_dir)
    blobs = {
        ROLES[key]: (trained.model_dir / e.file).read_bytes()
        for key, e in meta.files.items()
    }
    meta = dataclasses.replace(
        meta, examples=dataclasses.replace(meta.examples, positive=None)
    )
    publish.publish_bundle(tmp_path / "model", meta, blobs)
    model = load_bundle(tmp_path / "model")
    app = create_app({"TESTING": True}, model=model, settings=Settings())
    client = app.test_client()
    spec = client.get("/openapi.json").get_json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    examples = body["application/json"]["examples"]
    negative = meta.examples.negative
    assert set(examples) == {negative.prediction, "invalid"}
    fields = spec["components"]["schemas"]["Record"]["properties"]
    shown = {name: fields[name].get("example") for name in negative.record}
    assert shown == negative.record
    for example in examples.values():
        r = client.post("/predict", json=example["value"])
        want = example["x-expected"]
        assert r.status_code == want["status"]
        if r.status_code == 200:
            assert r.get_json()["prediction"] == want["prediction"]

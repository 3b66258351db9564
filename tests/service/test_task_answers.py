"""One response family for every task: a multiclass model answers its class, that
class's probability and every class's; a regression model its value; a binary model as
it always did. The OpenAPI spec describes the task's answer, built from the bundle."""

from __future__ import annotations


import pytest

from bundle.store import load_bundle
from service import create_app
from service.settings import Settings


@pytest.fixture(scope="module")
def served(task_models):
    """A test client of the app serving the task's model, and that model."""

    def client_of(task: str):
        model = load_bundle(task_models(task))
        app = create_app({"TESTING": True}, model=model, settings=Settings())
        return app.test_client(), model

    return client_of


def test_a_multiclass_model_answers_the_class_its_probability_and_every_class(served):
    client, model = served("multiclass")
    names = list(model.metadata.target.class_names)
    for example in model.metadata.examples.scored():
        body = client.post("/predict", json=example.record).get_json()
        assert set(body) == {"prediction", "probability", "probabilities"} | {
            "model_version"
        }
        assert body["prediction"] == example.prediction
        assert list(body["probabilities"]) == names
        assert body["probability"] == body["probabilities"][body["prediction"]]
        assert body["probability"] == max(body["probabilities"].values())
        assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert body["probability"] == pytest.approx(example.probability, abs=1e-5)


def test_a_multiclass_batch_answers_as_the_single_records_in_order(served):
    client, model = served("multiclass")
    records = [e.record for e in model.metadata.examples.scored()][::-1]
    singles = [client.post("/predict", json=r).get_json() for r in records]
    for single in singles:
        del single["model_version"]
    batch = client.post("/predict/batch", json={"records": records}).get_json()
    assert batch["predictions"] == singles
    assert batch["model_version"] == model.version


def test_a_regression_model_answers_the_predicted_value(served):
    client, model = served("regression")
    examples = model.metadata.examples.scored()
    for example in examples:
        body = client.post("/predict", json=example.record).get_json()
        assert body == {"prediction": example.value, "model_version": model.version}
    batch = client.post(
        "/predict/batch", json={"records": [e.record for e in examples]}
    ).get_json()
    assert batch["predictions"] == [{"prediction": e.value} for e in examples]


def test_a_bad_record_is_still_a_422_naming_its_field_for_each_task(served):
    for task in ("multiclass", "regression"):
        client, model = served(task)
        r = client.post("/predict", json=model.metadata.examples.invalid_record)
        assert r.status_code == 422
        assert model.metadata.examples.invalid_field in r.get_json()["errors"]["json"]


def response_schema(client, path: str) -> dict:
    spec = client.get("/openapi.json").get_json()
    content = spec["paths"][path]["post"]["responses"]["200"]["content"]
    ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return spec["components"]["schemas"][ref], spec


def test_the_openapi_spec_describes_each_task_answer_and_its_examples(served):
    client, model = served("multiclass")
    schema, spec = response_schema(client, "/predict")
    assert schema["properties"]["probabilities"]["type"] == "object"
    assert set(schema["required"]) == {
        "prediction",
        "probability",
        "probabilities",
        "model_version",
    }
    examples = spec["paths"]["/predict"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert set(examples) == set(model.metadata.target.class_names) | {"invalid"}

    client, model = served("regression")
    schema, spec = response_schema(client, "/predict")
    assert schema["properties"]["prediction"]["type"] == "number"
    assert set(schema["properties"]) == {"prediction", "model_version"}
    batch, _ = response_schema(client, "/predict/batch")
    item = batch["properties"]["predictions"]["items"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][item]["properties"]) == {"prediction"}
    examples = spec["paths"]["/predict"]["post"]["requestBody"]["content"][
        "application/json"
    ]["examples"]
    assert examples["high"]["x-expected"]["prediction"] == (
        model.metadata.examples.scored()[2].value
    )


@pytest.mark.task("binary")  # the configured model is the binary one
def test_health_lists_the_classes_of_each_task(served, client, loaded_model):
    mc_client, mc = served("multiclass")
    assert mc_client.get("/health").get_json()["model"]["classes"] == list(
        mc.metadata.target.class_names
    )
    assert served("regression")[0].get("/health").get_json()["model"]["classes"] == []
    target = loaded_model.metadata.target
    assert client.get("/health").get_json()["model"]["classes"] == [
        target.negative_name,
        target.positive_name,
    ]


@pytest.mark.task("binary")  # the configured model is the binary one
def test_health_names_a_task_other_than_binary_and_a_binary_model_s_is_unchanged(
    served, client
):
    for task in ("multiclass", "regression"):
        assert served(task)[0].get("/health").get_json()["model"]["task"] == task
    assert "task" not in client.get("/health").get_json()["model"]


@pytest.mark.task("binary")  # the configured model is the binary one
def test_the_welcome_text_says_what_each_task_answers(served, client, loaded_model):
    mc_client, mc = served("multiclass")
    message = mc_client.get("/").get_json()["message"]
    names = ", ".join(mc.metadata.target.class_names)
    assert f"It answers one of {names}, with every class's probability." in message
    rg_client, rg = served("regression")
    column = rg.metadata.target.column
    assert (
        f"It answers the predicted {column}, a number."
        in rg_client.get("/").get_json()["message"]
    )
    project = loaded_model.metadata.project
    assert client.get("/").get_json()["message"] == (
        f"{project.name}: predicts {project.description}. "
        "POST a record to /predict; /docs has the fields and examples."
    )


@pytest.mark.task("binary")  # the configured model is the binary one
def test_a_binary_model_answers_exactly_as_before(client, loaded_model):
    record = loaded_model.metadata.examples.positive.record
    body = client.post("/predict", json=record).get_json()
    assert set(body) == {"prediction", "probability", "model_version"}
    batch = client.post("/predict/batch", json={"records": [record]}).get_json()
    assert set(batch["predictions"][0]) == {"prediction", "probability"}
    schema, _ = response_schema(client, "/predict")
    assert set(schema["properties"]) == {"prediction", "probability", "model_version"}

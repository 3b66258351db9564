"""Batch scoring of each task: a multiclass model's class, its probability and one column
per class, a regression model's value, each what POST /predict/batch answers."""

from __future__ import annotations

import pytest

from batch.columnar import predictions_schema, probability_columns
from batch.score import main
from bundle.store import load_bundle
from service import create_app
from service.settings import Settings
from testkit.batchfiles import api_answers, api_records, batch_answer, break_rows
from training.config import Paths

BATCH_LIMIT = 50


@pytest.fixture(scope="module")
def task_files(task_models, tmp_path_factory):
    """The task's model, and its test split with some rows broken (their numbers)."""

    def files_of(task: str):
        model_dir = task_models(task)
        model = load_bundle(model_dir)
        source = Paths(root=model_dir.parent).processed / "test.csv"
        broken = tmp_path_factory.mktemp(task) / "broken.csv"
        return model, broken, break_rows(source, broken, model.features)

    return files_of


def api_lines(model, records: list[dict]) -> list[dict | None]:
    """POST /predict/batch's answer for each record in order; None for one it refuses."""
    client = create_app(
        {"TESTING": True, "BATCH_LIMIT": BATCH_LIMIT}, model=model, settings=Settings()
    ).test_client()
    return api_answers(client, model.features, records, BATCH_LIMIT)


def scored_lines(model, source, out) -> list[dict]:
    """The CLI's predictions for `source` (CSV or Parquet by `out`'s extension)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    args = [str(source), str(out), "--model-dir", str(model.path), "--quiet"]
    assert main(args) == 1  # some rows are broken
    if out.suffix == ".parquet":
        return pq.read_table(out).to_pylist()
    nulls = pcsv.ConvertOptions(strings_can_be_null=True)
    return pcsv.read_csv(out, convert_options=nulls).to_pylist()


@pytest.mark.parametrize("task", ["multiclass", "regression"])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_each_task_s_batch_output_is_what_post_predict_batch_answers_row_by_row(
    task_files, tmp_path, task, suffix
):
    model, source, broken = task_files(task)
    target = model.metadata.target
    lines = scored_lines(model, source, tmp_path / f"out{suffix}")
    assert list(lines[0]) == predictions_schema(target).names
    expected = api_lines(model, api_records(source, model.features))
    assert [batch_answer(line, target) for line in lines] == expected
    assert [line["row"] for line in lines] == list(range(1, len(expected) + 1))
    assert {n for n, line in enumerate(lines, 1) if line["prediction"] is None} == set(
        broken
    )
    assert {line["model_version"] for line in lines} == {model.version}


def test_a_multiclass_output_has_every_class_and_a_regression_s_a_number(task_files):
    multiclass = predictions_schema(task_files("multiclass")[0].metadata.target)
    names = task_files("multiclass")[0].metadata.target.class_names
    assert multiclass.names[1:3] == ["prediction", "probability"]
    assert multiclass.names[3:-1] == probability_columns(names)
    regression = predictions_schema(task_files("regression")[0].metadata.target)
    assert regression.names == ["row", "prediction", "model_version"]
    assert str(regression.field("prediction").type) == "double"


def test_a_class_s_column_name_keeps_letters_digits_and_underscores_only():
    assert probability_columns(["small fry", "mid", "whale"]) == [
        "probability_small_fry",
        "probability_mid",
        "probability_whale",
    ]
    assert probability_columns([1, 2, "Über-3"]) == [
        "probability_1",
        "probability_2",
        "probability__ber_3",
    ]


def test_class_names_that_would_give_one_column_name_get_their_positions_too():
    assert probability_columns(["a b", "a_b", "c"]) == [
        "probability_a_b_1",
        "probability_a_b_2",
        "probability_c_3",
    ]
    # Spark reads column names ignoring case.
    assert probability_columns(["Yes", "yes", "no"]) == [
        "probability_Yes_1",
        "probability_yes_2",
        "probability_no_3",
    ]

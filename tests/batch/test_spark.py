"""The Spark job (local mode) against the CLI: same predictions, same rejected rows.

One local Spark session for the module (about 10 s to start); its files are read in
small splits so that a sample file spans several partitions and row numbering across
partitions is exercised.
"""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from batch import spark_job
from batch.score import main as cli
from bundle.store import load_bundle
from testkit.batchfiles import read_output, typed_parquet

pytestmark = [
    pytest.mark.slow,
    # mapInArrow needs no pandas; pyspark warns about pandas >= 3 all the same.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]


@pytest.fixture(scope="module")
def spark():
    session = spark_job.session("local[2]", app="batch-score-tests")
    session.conf.set("spark.sql.files.maxPartitionBytes", "16k")
    yield session
    session.stop()


def cli_outputs(model_dir, source, tmp_path) -> tuple[list, list]:
    """The CLI's predictions and rejected rows for `source`, as sorted tuples."""
    out, errors = tmp_path / "cli.csv", tmp_path / "cli-errors.csv"
    code = cli(
        [str(source), str(out), "--errors", str(errors)]
        + ["--model-dir", str(model_dir), "--quiet"]
    )
    assert code in (0, 1)
    read = [read_output(p) for p in (out, errors)]
    return tuple(sorted(tuple(r.values()) for r in t.to_pylist()) for t in read)


def spark_outputs(spark, model, source, fmt, tmp_path) -> tuple[list, list, tuple]:
    """The job's predictions and rejected rows, sorted, and its (rows, invalid rows)."""
    out, errors = tmp_path / "spark-out", tmp_path / "spark-errors"
    counts = spark_job.score(spark, model, str(source), fmt, str(out), str(errors))
    tables = [pq.read_table(p) for p in (out, errors)]
    lines = [sorted(tuple(r.values()) for r in t.to_pylist()) for t in tables]
    return lines[0], lines[1], counts


def test_spark_and_the_cli_give_the_same_predictions_and_rejected_rows(
    spark, model_dir, loaded_model, broken_csv, tmp_path
):
    source, broken = broken_csv
    cli_lines, cli_errors = cli_outputs(model_dir, source, tmp_path)
    lines, errors, (rows, invalid) = spark_outputs(
        spark, loaded_model, source, "csv", tmp_path
    )
    assert lines == cli_lines
    assert errors == cli_errors
    # The label is the API's answer: its class name as a string column (a
    # regression's value is a number: test_spark_writes_each_task_s_columns_...).
    target = loaded_model.metadata.target
    schema = pq.read_schema(next((tmp_path / "spark-out").glob("*.parquet")))
    if target.task != "regression":
        predicted = {line[1] for line in lines} - {None}
        assert predicted <= set(target.labels) and len(predicted) >= 2
        assert str(schema.field("prediction").type) == "string"
    assert [row for row, *_ in lines] == list(range(1, rows + 1))
    assert set(broken) <= {row for row, *_ in errors}
    assert invalid == len({row for row, *_ in errors})


def test_spark_scores_typed_parquet_like_the_cli(
    spark, model_dir, loaded_model, records_csv, tmp_path
):
    source = typed_parquet(records_csv, tmp_path / "in.parquet", loaded_model.features)
    cli_lines, cli_errors = cli_outputs(model_dir, source, tmp_path)
    lines, errors, _ = spark_outputs(spark, loaded_model, source, "parquet", tmp_path)
    assert (lines, errors) == (cli_lines, cli_errors)


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_spark_writes_each_task_s_columns_as_the_cli_does(
    spark, task_models, tmp_path, task
):
    from batch.columnar import predictions_schema
    from testkit.batchfiles import break_rows
    from training.config import Paths

    model = load_bundle(task_models(task))
    source = tmp_path / "broken.csv"
    test_split = Paths(root=model.path.parent).processed / "test.csv"
    broken = break_rows(test_split, source, model.features)
    cli_lines, cli_errors = cli_outputs(model.path, source, tmp_path)
    lines, errors, (rows, invalid) = spark_outputs(
        spark, model, source, "csv", tmp_path
    )
    assert (lines, errors) == (cli_lines, cli_errors)
    schema = pq.read_schema(next((tmp_path / "spark-out").glob("*.parquet")))
    assert schema.names == predictions_schema(model.metadata.target).names
    assert invalid == len(broken) and rows == len(lines)


def test_a_bundle_tampered_with_on_its_way_to_the_executors_fails_the_job_saying_so(
    spark, loaded_model, records_csv, tmp_path, monkeypatch
):
    copy = tmp_path / "tampered"  # a bundle shipped under a name of its own
    shutil.copytree(loaded_model.path, copy)
    model = load_bundle(copy)  # verified here, on the driver
    real_stage = spark_job.stage_bundle

    def stage_then_tamper(model):
        staged = real_stage(model)
        graph = model.metadata.files[model.predictor.graph].file
        with open(staged / graph, "ab") as fh:
            fh.write(b"\0")
        return staged

    monkeypatch.setattr(spark_job, "stage_bundle", stage_then_tamper)
    out = tmp_path / "out"
    with pytest.raises(Exception) as caught:
        spark_job.score(
            spark, model, str(records_csv), "csv", str(out), str(out) + "-e"
        )
    message, from_bundle = spark_job.failure(caught.value)
    assert "failed its integrity check" in message and "\n" not in message
    assert from_bundle
    assert not (out / "_SUCCESS").exists()


def test_without_java_the_job_says_so_in_one_line(
    model_dir, records_csv, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    args = [str(records_csv), str(tmp_path / "out"), "--model-dir", str(model_dir)]
    assert spark_job.main(args) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "batch spark: Spark needs Java 17 or later: no `java` on PATH and JAVA_HOME "
        "is not set"
    ]


def test_a_tampered_bundle_is_refused_before_spark_starts(
    loaded_model, records_csv, tmp_path, capsys
):
    copy = tmp_path / "tampered"
    shutil.copytree(loaded_model.path, copy)
    graph = loaded_model.metadata.files[loaded_model.predictor.graph].file
    with open(copy / graph, "ab") as fh:
        fh.write(b"\0")
    args = [str(records_csv), str(tmp_path / "out"), "--model-dir", str(copy)]
    assert spark_job.main(args) == 3
    assert "failed its integrity check" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_input_without_a_feature_column_is_refused_before_scoring(
    spark, loaded_model, records_csv, tmp_path
):
    from batch.files import InputError
    from testkit.batchfiles import read_rows, write_rows

    header, rows = read_rows(records_csv)
    drop = header.index(loaded_model.features[-1].name)
    source = write_rows(
        tmp_path / "in.csv",
        header[:drop] + header[drop + 1 :],
        [r[:drop] + r[drop + 1 :] for r in rows],
    )
    out = tmp_path / "out"
    with pytest.raises(InputError, match="lacks the feature column"):
        spark_job.score(spark, loaded_model, str(source), "csv", str(out), str(out))
    assert not out.exists()


def test_a_missing_input_path_is_one_line_naming_it(spark, loaded_model, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(Exception) as caught:
        spark_job.score(
            spark,
            loaded_model,
            str(tmp_path / "nowhere.csv"),
            "csv",
            str(out),
            str(out),
        )
    message, from_bundle = spark_job.failure(caught.value)
    assert "nowhere.csv" in message and "\n" not in message and not from_bundle

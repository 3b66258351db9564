"""The batch scoring CLI: the API's answers for every row, CSV or Parquet, atomic output."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from batch import files
from batch import score as score_module
from batch.score import main
from testkit.markers import not_for_this_data
from testkit.batchfiles import (
    api_answers,
    api_records,
    batch_answer,
    expected_errors,
    read_output,
    read_rows,
    typed_parquet,
    write_rows,
)

BATCH_LIMIT = 50  # the app fixture's BATCH_LIMIT


def score(model_dir, source, target, *extra) -> int:
    return main(
        [str(source), str(target), "--model-dir", str(model_dir), "--quiet", *extra]
    )


def table(path: Path):
    """An output file as a pyarrow Table, whatever its format."""
    if path.suffix == ".parquet":
        return pq.read_table(path)
    # An empty cell is a null: a rejected row's prediction and probability.
    return read_output(path)


def status(source: Path, rules) -> int:
    """The exit status a run on `source` must end with: 1 if the API refuses a row."""
    return 1 if expected_errors(source, rules) else 0


@pytest.fixture
def small_batches(monkeypatch):
    """CSV read in 4 kB blocks, scored as read: a sample file spans many batches."""
    monkeypatch.setattr(files, "CSV_BLOCK", 4096)
    monkeypatch.setattr(score_module, "SCORE_ROWS", 1)


def test_every_row_gets_the_answer_post_predict_batch_gives(
    model_dir, loaded_model, records_csv, tmp_path, client, small_batches
):
    rules = loaded_model.features
    out = tmp_path / "out.csv"
    assert score(model_dir, records_csv, out) == status(records_csv, rules)
    got = table(out).to_pylist()
    answers = api_answers(client, rules, api_records(records_csv, rules), BATCH_LIMIT)
    assert [line["row"] for line in got] == list(range(1, len(answers) + 1))
    target = loaded_model.metadata.target
    assert [batch_answer(g, target) for g in got] == answers
    assert sum(a is not None for a in answers) > len(answers) * 0.9
    assert {g["model_version"] for g in got} == {loaded_model.version}


def test_the_csv_output_writes_each_label_as_the_api_answers_it_without_quotes(
    model_dir, loaded_model, records_csv, tmp_path
):
    target = loaded_model.metadata.target
    if not target.labels:
        not_for_this_data("a regression model's prediction is a number, not a label")
    out = tmp_path / "out.csv"
    score(model_dir, records_csv, out)
    lines = out.read_text().splitlines()
    labels = {line.split(",")[1] for line in lines[1:]}  # pyarrow quotes the header
    assert labels <= {*target.labels, ""}
    assert len(labels - {""}) >= 2 and '"' not in "".join(lines[1:])


def test_a_label_that_needs_quotes_gets_them_so_the_csv_reads_back(tmp_path):
    import argparse

    args = argparse.Namespace(
        output=tmp_path / "out.csv", output_format=None, errors=None
    )
    outputs = score_module.Outputs(args, ("yes, churned", "no", "v1"))
    row = {"row": [1], "prediction": ["yes, churned"], "probability": [0.9]}
    batch = pa.record_batch({**row, "model_version": ["v1"]})
    outputs.out.write(batch.cast(score_module.PREDICTIONS))
    outputs.commit()
    assert table(args.output).column("prediction").to_pylist() == ["yes, churned"]
    assert score_module.plain_csv(["1", "0", "v1"])
    assert not score_module.plain_csv(["1", ""])


def test_an_integer_target_s_labels_read_back_from_the_csv_as_the_api_s_text(
    tmp_path,
):
    import argparse

    args = argparse.Namespace(
        output=tmp_path / "out.csv", output_format=None, errors=None
    )
    outputs = score_module.Outputs(args, ("1", "0", "v1"))
    row = {"row": [1, 2], "prediction": ["1", "0"], "probability": [0.9, 0.1]}
    batch = pa.record_batch({**row, "model_version": ["v1", "v1"]})
    outputs.out.write(batch.cast(score_module.PREDICTIONS))
    outputs.commit()
    assert args.output.read_text().splitlines()[1] == "1,1,0.9,v1"
    assert table(args.output).column("prediction").to_pylist() == ["1", "0"]


def test_parquet_in_and_out_give_the_same_predictions_as_csv(
    model_dir, loaded_model, records_csv, tmp_path
):
    parquet = typed_parquet(records_csv, tmp_path / "in.parquet", loaded_model.features)
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "from-csv.csv") == code
    assert score(model_dir, parquet, tmp_path / "from-parquet.parquet") == code
    from_csv = table(tmp_path / "from-csv.csv")
    from_parquet = table(tmp_path / "from-parquet.parquet")
    answer = (
        "prediction"
        if loaded_model.metadata.target.task == "regression"
        else "probability"
    )
    assert from_parquet.schema.field(answer).type == "double"
    assert from_parquet.to_pylist() == from_csv.to_pylist()


def test_a_gzipped_csv_scores_like_the_plain_file(
    model_dir, loaded_model, records_csv, tmp_path
):
    packed = tmp_path / "in.csv.gz"
    packed.write_bytes(gzip.compress(records_csv.read_bytes()))
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "plain.csv") == code
    assert score(model_dir, packed, tmp_path / "packed.csv") == code
    assert (tmp_path / "packed.csv").read_bytes() == (
        tmp_path / "plain.csv"
    ).read_bytes()


@pytest.mark.parametrize("delimiter, flag", [("\t", "\\t"), (";", ";")])
def test_a_csv_with_another_delimiter_scores_like_the_comma_file(
    model_dir, loaded_model, records_csv, tmp_path, delimiter, flag
):
    rows = pcsv.read_csv(
        records_csv,
        convert_options=pcsv.ConvertOptions(
            column_types={n: pa.string() for n in csv_names(records_csv)}
        ),
    )
    other = tmp_path / "in.txt"
    pcsv.write_csv(rows, other, pcsv.WriteOptions(delimiter=delimiter))
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "comma.csv") == code
    assert score(model_dir, other, tmp_path / "other.csv", "--delimiter", flag) == code
    assert (tmp_path / "other.csv").read_bytes() == (
        tmp_path / "comma.csv"
    ).read_bytes()


def test_a_csv_quoted_with_single_quotes_scores_like_the_plain_file(
    model_dir, loaded_model, records_csv, tmp_path
):
    header, rows = read_rows(records_csv)
    quoted = tmp_path / "quoted.csv"
    with open(quoted, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, quotechar="'", quoting=csv.QUOTE_ALL).writerows([header, *rows])
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "plain.csv") == code
    assert score(model_dir, quoted, tmp_path / "q.csv", "--quotechar", "'") == code
    assert (tmp_path / "q.csv").read_bytes() == (tmp_path / "plain.csv").read_bytes()


def test_a_delimiter_that_is_not_one_character_is_refused(
    model_dir, records_csv, tmp_path, capsys
):
    with pytest.raises(SystemExit) as stop:
        main([str(records_csv), str(tmp_path / "o.csv"), "--delimiter", ";;"])
    assert stop.value.code == 2
    assert "';;' is not one character" in capsys.readouterr().err


def csv_names(path: Path) -> list[str]:
    return files.csv_header(path)


def test_output_does_not_depend_on_batch_size_or_threads(
    model_dir, loaded_model, broken_csv, tmp_path, monkeypatch
):
    source, _ = broken_csv
    runs = [(1 << 20, "1"), (4096, "1"), (4096, "2"), (1500, "3")]
    for block, threads in runs:
        monkeypatch.setattr(files, "CSV_BLOCK", block)
        monkeypatch.setattr(score_module, "SCORE_ROWS", block // 20)
        out = tmp_path / f"{block}-{threads}.csv"
        assert score(model_dir, source, out, "--threads", threads) == 1
    first, *others = [(tmp_path / f"{b}-{t}.csv").read_bytes() for b, t in runs]
    assert all(other == first for other in others)


def test_invalid_rows_are_reported_with_the_api_messages_and_the_job_goes_on(
    model_dir, loaded_model, broken_csv, tmp_path, capsys, small_batches
):
    source, broken = broken_csv
    out, errors = tmp_path / "out.csv", tmp_path / "errors.csv"
    assert score(model_dir, source, out, "--errors", str(errors)) == 1
    lines = table(out).to_pylist()
    reported = [tuple(e.values()) for e in table(errors).to_pylist()]
    assert reported == expected_errors(source, loaded_model.features)
    refused = sorted({row for row, _, _ in reported})
    assert set(broken) <= set(refused)
    assert [r["row"] for r in lines if r["prediction"] is None] == refused
    assert all(r["prediction"] is not None for r in lines if r["row"] not in refused)
    stderr = capsys.readouterr().err
    row, field, message = reported[0]
    assert f"row {row}: {field}: {message}" in stderr
    assert f"scored {len(lines) - len(refused)} of {len(lines)} rows" in stderr


def test_errors_can_be_written_as_parquet(model_dir, broken_csv, tmp_path):
    source, broken = broken_csv
    errors = tmp_path / "errors.parquet"
    assert score(model_dir, source, tmp_path / "out.csv", "--errors", str(errors)) == 1
    assert set(broken) <= set(pq.read_table(errors).column("row").to_pylist())


# What the API says of a boolean sent for a feature of each kind.
NOT_OF_THE_KIND = {
    "integer": "Not a valid integer.",
    "number": "Not a valid number.",
    "category": "Not a valid string.",
}


def test_typed_columns_of_the_wrong_type_are_refused_row_by_row(
    model_dir, loaded_model, records_csv, tmp_path, capsys
):
    # A typed numeric column, else (a data set of categories only) a typed text column.
    rules = loaded_model.features
    rule = next((r for r in rules if r.numeric), rules[0])
    parquet = typed_parquet(records_csv, tmp_path / "in.parquet", rules)
    data = pq.read_table(parquet)
    values = data.column(rule.name).to_pylist()
    as_bools = [bool(i % 2) if v is not None else None for i, v in enumerate(values)]
    index = data.schema.get_field_index(rule.name)
    data = data.set_column(index, rule.name, pa.array(as_bools, pa.bool_()))
    pq.write_table(data, parquet)
    assert score(model_dir, parquet, tmp_path / "out.csv") == 1
    expected = NOT_OF_THE_KIND[rule.kind]
    assert f"row 1: {rule.name}: {expected}" in capsys.readouterr().err
    assert table(tmp_path / "out.csv").column("prediction").null_count == data.num_rows


def spoil_gzip(source: Path, target: Path, rules) -> None:
    """A .gz name on plain CSV bytes."""
    shutil.copy(source, target)


def truncated_gzip(source: Path, target: Path, rules) -> None:
    """A gzip cut short: readable at first, broken midway."""
    header, body = source.read_bytes().split(b"\n", 1)
    packed = gzip.compress(header + b"\n" + body * 4)
    target.write_bytes(packed[: len(packed) * 3 // 4])


def bad_row_at_the_end(source: Path, target: Path, rules=()) -> None:
    """A long, good file whose last row has too many fields."""
    text = source.read_text()
    target.write_text(text + text.split("\n", 1)[1] * 3 + "1,2,3," * 40 + "\n")


def no_feature(source: Path, target: Path, rules) -> None:
    """The file without its last feature column."""
    header, rows = read_rows(source)
    drop = header.index(rules[-1].name)
    write_rows(
        target,
        header[:drop] + header[drop + 1 :],
        [r[:drop] + r[drop + 1 :] for r in rows],
    )


BAD_INPUTS = {
    "missing column": ("in.csv", no_feature, "lacks the feature column(s)"),
    "empty file": ("in.csv", lambda s, t, r: t.write_bytes(b""), "the file is empty"),
    "blank file": ("in.csv", lambda s, t, r: t.write_text("\n\n"), "the file is empty"),
    "gzip that is not gzip": ("in.csv.gz", spoil_gzip, "is not gzip-compressed"),
    "truncated gzip": ("in.csv.gz", truncated_gzip, "not a readable CSV file"),
    "malformed last row": ("in.csv", bad_row_at_the_end, "not a readable CSV file"),
    "not parquet": (
        "in.parquet",
        lambda s, t, r: shutil.copy(s, t),
        "not a readable Parquet file",
    ),
    "no such file": ("in.csv", lambda s, t, r: None, "no such file"),
    "a directory": ("in.csv", lambda s, t, r: t.mkdir(), "not a file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_an_unusable_input_exits_2_with_one_line_and_leaves_no_output(
    case, model_dir, loaded_model, records_csv, tmp_path, capsys, small_batches
):
    name, make, message = BAD_INPUTS[case]
    source = tmp_path / "input" / name
    source.parent.mkdir()
    make(records_csv, source, loaded_model.features)
    out = tmp_path / "out" / "predictions.csv"
    out.parent.mkdir()
    (out.parent / "keep.csv").write_text("an older file\n")
    errors = out.parent / "errors.csv"
    assert score(model_dir, source, out, "--errors", str(errors)) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after any row's errors
    assert last.startswith(f"batch score: {source}: ") and message in last
    assert sorted(p.name for p in out.parent.iterdir()) == ["keep.csv"]


def test_a_failed_run_keeps_the_previous_output(
    model_dir, records_csv, tmp_path, small_batches
):
    out = tmp_path / "out.csv"
    out.write_text("previous predictions\n")
    source = tmp_path / "in.csv"
    bad_row_at_the_end(records_csv, source)
    assert score(model_dir, source, out) == 2
    assert out.read_text() == "previous predictions\n"


def test_a_missing_model_exits_3_saying_why(records_csv, tmp_path, capsys):
    assert score(tmp_path / "no-model", records_csv, tmp_path / "out.csv") == 3
    assert "metadata.json not found" in capsys.readouterr().err
    assert not (tmp_path / "out.csv").exists()


def test_without_model_dir_the_job_reads_the_model_dir_variable_and_no_app_setting(
    model_dir, loaded_model, records_csv, tmp_path, monkeypatch
):
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "given.csv") == code
    monkeypatch.setenv("MODEL_DIR", str(model_dir))
    monkeypatch.setenv("BATCH_LIMIT", "lots")  # the HTTP app's setting, not the job's
    out = tmp_path / "from-env.csv"
    assert main([str(records_csv), str(out), "--quiet"]) == code
    assert table(out).to_pylist() == table(tmp_path / "given.csv").to_pylist()


def test_an_output_folder_that_does_not_exist_is_named_in_one_line(
    model_dir, records_csv, tmp_path, capsys
):
    out = tmp_path / "missing" / "out.csv"
    assert score(model_dir, records_csv, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"batch score: cannot write {out}: No such file or directory"]


def test_outputs_get_the_usual_file_permissions(model_dir, records_csv, tmp_path):
    out = tmp_path / "out.csv"
    score(model_dir, records_csv, out)
    assert out.stat().st_mode & 0o777 == 0o666 & ~files.current_umask()


def test_a_quoted_line_break_in_another_column_is_read_as_csv_allows(
    model_dir, loaded_model, records_csv, tmp_path, small_batches
):
    header, rows = read_rows(records_csv)
    notes = [f"line one\nline {i}, two" for i in range(len(rows))]
    source = write_rows(
        tmp_path / "notes.csv",
        header + ["note"],
        [r + [n] for r, n in zip(rows, notes)],
    )
    code = status(records_csv, loaded_model.features)
    assert score(model_dir, records_csv, tmp_path / "plain.csv") == code
    assert score(model_dir, source, tmp_path / "notes-out.csv") == code
    plain = (tmp_path / "plain.csv").read_bytes()
    assert (tmp_path / "notes-out.csv").read_bytes() == plain

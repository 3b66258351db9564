"""The batch scoring CLI: order, row-numbered errors, same answers as POST /predict."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from batch.score import main
from bundle.rules import FeatureRule
from testkit.records import Roles, out_of_range, unknown_category

ROWS = 40


@pytest.fixture
def records_csv(tmp_path, sampled) -> Path:
    """The first ROWS rows of the sample's test split, target column included."""
    with open(sampled.processed / "test.csv", newline="") as fh:
        lines = fh.read().splitlines()[: ROWS + 1]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def roles(loaded_model) -> Roles:
    return Roles.of(loaded_model.features)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def spoil(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell of data row `row` (1-based)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    rows[row][rows[0].index(column)] = value
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)


def score(model_dir, source, target, *extra) -> int:
    return main(
        [str(source), str(target), "--model-dir", str(model_dir), "--quiet", *extra]
    )


def test_scores_every_row_in_order_with_the_probabilities_of_post_predict(
    model_dir, loaded_model, records_csv, tmp_path, client
):
    out = tmp_path / "out.csv"
    assert score(model_dir, records_csv, out, "--chunk-size", "7") == 0
    lines = read_csv(out)
    assert [int(r["row"]) for r in lines] == list(range(1, ROWS + 1))
    rules = loaded_model.features
    for line, record in zip(lines, read_csv(records_csv)):
        body = {r.name: r.from_text(record[r.name]) for r in rules}
        answer = client.post("/predict", json=body).get_json()
        # float32 inference: a linear model's batch and single sums may differ in the
        # last bit, never more
        assert float(line["probability"]) == pytest.approx(
            answer["probability"], abs=1e-6
        )
        assert line["prediction"] == answer["prediction"]


def test_chunk_size_does_not_change_the_output(model_dir, records_csv, tmp_path):
    score(model_dir, records_csv, tmp_path / "a.csv", "--chunk-size", "1")
    score(model_dir, records_csv, tmp_path / "b.csv", "--chunk-size", "1000")
    one, many = read_csv(tmp_path / "a.csv"), read_csv(tmp_path / "b.csv")
    assert [(r["row"], r["prediction"]) for r in one] == [
        (r["row"], r["prediction"]) for r in many
    ]
    for a, b in zip(one, many):
        assert float(a["probability"]) == pytest.approx(
            float(b["probability"]), abs=1e-6
        )


def test_bad_rows_are_reported_by_row_number_and_the_job_goes_on(
    model_dir, records_csv, tmp_path, capsys, roles
):
    numeric, category = roles.numeric, roles.category or roles.nullable_category
    spoil(records_csv, 3, numeric.name, str(out_of_range(numeric)))
    spoil(records_csv, 17, numeric.name, "twelve")
    expected = {(3, numeric.name), (17, numeric.name)}
    if category is not None:
        spoil(records_csv, 17, category.name, unknown_category(category))
        expected.add((17, category.name))
    out, errors = tmp_path / "out.csv", tmp_path / "errors.csv"
    assert score(model_dir, records_csv, out, "--errors", str(errors)) == 1
    lines = read_csv(out)
    assert len(lines) == ROWS
    unscored = [int(r["row"]) for r in lines if r["prediction"] == ""]
    assert unscored == [3, 17]
    assert all(r["probability"] for r in lines if int(r["row"]) not in (3, 17))
    reported = {(int(e["row"]), e["field"]) for e in read_csv(errors)}
    assert reported == expected
    stderr = capsys.readouterr().err
    assert f"row 3: {numeric.name}: {numeric.range_message}" in stderr
    kind = "integer" if numeric.kind == "integer" else "number"
    assert f"row 17: {numeric.name}: Not a valid {kind}." in stderr
    assert f"scored {ROWS - 2} of {ROWS} rows" in stderr


def test_a_file_without_a_feature_column_is_refused_and_leaves_no_output(
    model_dir, tmp_path, capsys, loaded_model
):
    first, second = (r.name for r in loaded_model.features[:2])
    source = tmp_path / "in.csv"
    source.write_text(f"{first}\n1\n")
    assert score(model_dir, source, tmp_path / "out.csv") == 2
    assert f"lacks the feature column(s) {second}" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_a_missing_model_exits_3_saying_why(records_csv, tmp_path, capsys):
    assert score(tmp_path / "no-model", records_csv, tmp_path / "out.csv") == 3
    assert "metadata.json not found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, numeric, value",
    [
        ("", True, None),
        ("", False, None),
        ("42", True, 42),
        (" 42", True, 42),
        ("-3", True, -3),
        ("4.5", True, 4.5),
        ("forty", True, "forty"),
        ("42", False, "42"),
        ("Private", False, "Private"),
    ],
)
def test_cells_become_the_json_values_a_client_would_send(text, numeric, value):
    rule = (
        FeatureRule("n", "integer", minimum=0, maximum=1)
        if numeric
        else FeatureRule("c", "category", categories=("a",))
    )
    got = rule.from_text(text)
    assert got == value and type(got) is type(value)

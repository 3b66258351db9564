"""Input files for the batch scorer's tests and benchmarks, for any data set.

Everything is derived from the bundle's feature rules: which cells to break, and the
Parquet types of the columns. Nothing here knows the census columns.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from bundle.format import MULTICLASS, REGRESSION, Target
from bundle.rules import FeatureRule, record_errors
from testkit.records import out_of_range, unknown_category


def bad_cell(rule: FeatureRule) -> str:
    """A CSV cell this rule refuses: not an integer, out of range, or unknown."""
    if rule.kind == "integer":
        return "12.5"
    if rule.kind == "number":
        return str(out_of_range(rule))
    return unknown_category(rule)


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def break_rows(
    source: Path, target: Path, rules: Sequence[FeatureRule], every: int = 7
) -> list[int]:
    """Copy `source` with every `every`-th row broken (one or two cells); return them.
    A category that takes any text (`unseen: group` or `missing`) has no bad cell."""
    rules = [r for r in rules if not (r.kind == "category" and r.any_text)]
    header, rows = read_rows(source)
    broken = []
    for number in range(3, len(rows) + 1, every) if rules else ():
        row = rows[number - 1]
        for k in (number, number * 3) if number % 2 else (number,):
            rule = rules[k % len(rules)]
            row[header.index(rule.name)] = bad_cell(rule)
        broken.append(number)
    write_rows(target, header, rows)
    return broken


def api_records(path: Path, rules: Sequence[FeatureRule]) -> list[dict]:
    """Each CSV row as the JSON record a client would send for it."""
    header, rows = read_rows(path)
    return [
        {r.name: r.from_text(row[header.index(r.name)]) for r in rules} for row in rows
    ]


def expected_errors(path: Path, rules: Sequence[FeatureRule]) -> list[tuple]:
    """(row, field, message) the API gives for each CSV row, in row order."""
    out = []
    for number, record in enumerate(api_records(path, rules), start=1):
        for field, messages in record_errors(tuple(rules), record).items():
            out += [(number, field, m) for m in messages]
    return out


def typed_parquet(source: Path, target: Path, rules: Sequence[FeatureRule]) -> Path:
    """The CSV as Parquet with typed columns: integers, floats, strings (empty as null)."""
    kinds = {"integer": pa.int64(), "number": pa.float64(), "category": pa.string()}
    options = pcsv.ConvertOptions(
        column_types={r.name: kinds[r.kind] for r in rules}, strings_can_be_null=True
    )
    pq.write_table(pcsv.read_csv(source, convert_options=options), target)
    return target


def repeat_csv(source: Path, target: Path, times: int) -> int:
    """Write `source`'s rows `times` over under its header into `target`; return rows."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(lines[0])
        for _ in range(times):
            fh.writelines(lines[1:])
    return (len(lines) - 1) * times


def read_output(path: Path) -> pa.Table:
    """A scorer's CSV output with the types its Parquet output has (a CSV has none).

    A label is written as the data writes it (`1`, not `"1"`), so pyarrow alone would
    read an integer target's labels as numbers; the API and Parquet give text.
    """
    from batch.columnar import PREDICTIONS, REJECTED

    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    schema = PREDICTIONS if header == PREDICTIONS.names else REJECTED
    options = pcsv.ConvertOptions(
        column_types={f.name: f.type for f in schema}, strings_can_be_null=True
    )
    return pcsv.read_csv(path, convert_options=options)


def batch_answer(line: dict, target: Target) -> dict | None:
    """A line of the batch scorer's predictions as the answer POST /predict/batch gives
    for its row, whatever the task (None for a rejected row)."""
    if line["prediction"] is None:
        return None
    if target.task == REGRESSION:
        return {"prediction": line["prediction"]}
    answer = {"prediction": line["prediction"], "probability": line["probability"]}
    if target.task == MULTICLASS:
        from batch.columnar import probability_columns

        columns = probability_columns(target.class_names)
        answer["probabilities"] = {
            name: line[column] for name, column in zip(target.class_names, columns)
        }
    return answer


def api_answers(client, rules, records: list[dict], limit: int) -> list[dict | None]:
    """POST /predict/batch's answer for each record, in order, `limit` records a
    request; None for a record the API refuses."""
    valid = [r for r in records if not record_errors(rules, r)]
    answers = []
    for start in range(0, len(valid), limit):
        response = client.post(
            "/predict/batch", json={"records": valid[start : start + limit]}
        )
        assert response.status_code == 200, response.get_json()
        answers += response.get_json()["predictions"]
    found = iter(answers)
    return [None if record_errors(rules, r) else next(found) for r in records]


def score_with_no_rejected_row(source: Path, model_dir: Path, out_dir: Path):
    """`make score` of `source` into `out_dir`: asserts it exits 0 with no error row and
    a prediction for every row; returns the scored table."""
    import pandas as pd

    from batch.score import main

    out, errors = out_dir / "out.csv", out_dir / "errors.csv"
    args = [str(source), str(out), "--model-dir", str(model_dir), "--quiet"]
    assert main(args + ["--errors", str(errors)]) == 0
    assert errors.read_text().strip().count("\n") == 0  # the header line only
    scored = pd.read_csv(out)
    assert len(scored) == len(pd.read_csv(source))
    assert scored["prediction"].notna().all()
    return scored

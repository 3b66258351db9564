"""Model card: rendered only from the context, with every section present."""

import pytest

from training.model_card import render_model_card

SECTIONS = [
    "## Model details",
    "## Intended use",
    "## Out-of-scope uses",
    "## Data and processing",
    "## Metrics",
    "## Decision threshold",
    "## Calibration",
    "## Slices",
    "## Bias findings",
    "## Caveats and recommendations",
    "## Figures",
]


def slice_row(feature, value, support, p, r, f1, too_small=False, flagged=False):
    return {
        "feature": feature,
        "value": value,
        "support": support,
        "positives": support // 2,
        "precision": p,
        "recall": r,
        "f1": f1,
        "too_small": too_small,
        "flagged": flagged,
    }


def group(size, fpr, fpr_disp, fpr_fair):
    return {
        "size": size,
        "pprev": 0.2,
        "ppr": 0.5,
        "precision": 0.7,
        "fpr": fpr,
        "fnr": 0.3,
        "tpr": 0.7,
        "disparity": {
            "pprev": 1.0,
            "ppr": 1.0,
            "precision": 1.0,
            "fpr": fpr_disp,
            "fnr": 1.0,
            "tpr": 1.0,
        },
        "fair": {
            "pprev": True,
            "ppr": True,
            "precision": True,
            "fpr": fpr_fair,
            "fnr": True,
            "tpr": True,
        },
    }


@pytest.fixture
def ctx():
    slices = [
        slice_row("sex", "Female", 412, 0.61234, 0.4321, 0.50667, flagged=True),
        slice_row("sex", "Male", 876, 0.73441, 0.6543, 0.69211),
        slice_row("age-band", "65+", 9, 0.0, 0.0, 0.0, too_small=True),
    ]
    return {
        "model": {
            "name": "census-income",
            "version": "1.2.0",
            "estimator": "HistGradientBoostingClassifier",
            "params": {"learning_rate": 0.05, "max_iter": 300},
            "library_versions": {"scikit-learn": "1.9.1", "pandas": "3.1.1"},
            "data_sha256": {"adult.data": "d" * 64},
        },
        "data": {
            "source": "UCI Adult",
            "n_train": 32561,
            "n_test": 16281,
            "features": ["age", "sex", "hours-per-week"],
            "target": "salary",
            "positive_label": ">50K",
            "negative_label": "<=50K",
            "cleaning": ["dropped rows with '?'", "stripped whitespace"],
        },
        "project": {"name": "census-income", "description": "whether income is high"},
        "use": {
            "intended": ["Teaching slice evaluation."],
            "out_of_scope": ["Decisions about individuals."],
            "caveats": ["The data is a 1994 census extract."],
            "sensitive": ["sex", "race"],
        },
        "metrics": {
            "precision": 0.78123,
            "recall": 0.65432,
            "f1": 0.71218,
            "accuracy": 0.87011,
            "roc_auc": 0.92468,
            "brier": 0.09137,
        },
        "cv": [
            {
                "candidate": "logreg",
                "roc_auc_mean": 0.90111,
                "roc_auc_std": 0.00321,
                "accuracy_mean": 0.85012,
                "accuracy_std": 0.00412,
            },
            {
                "candidate": "hgb",
                "roc_auc_mean": 0.92561,
                "roc_auc_std": 0.00234,
                "accuracy_mean": 0.87066,
                "accuracy_std": 0.00301,
            },
        ],
        "selection_criterion": "highest mean roc_auc",
        "selected": "hgb",
        "threshold": {
            "value": 0.31234,
            "rule": "max_f1",
            "at_least": None,
            "folds": 5,
            "out_of_fold": {"precision": 0.66612, "recall": 0.71234, "f1": 0.68845},
            "positive_label": ">50K",
            "lacking_examples": [],
        },
        "slices": slices,
        "weakest_slices": slices[:2],
        "bias": {
            "band": [0.8, 1.25],
            "metrics": ["pprev", "ppr", "precision", "fpr", "fnr", "tpr"],
            "attributes": {
                "sex": {
                    "reference": "Male",
                    "groups": {
                        "Female": group(412, 0.04, 0.5, False),
                        "Male": group(876, 0.08, 1.0, True),
                    },
                }
            },
            "summary": {
                "sex": {
                    "pprev": "fair",
                    "ppr": "fair",
                    "precision": "fair",
                    "fpr": "unfair",
                    "fnr": "fair",
                    "tpr": "fair",
                }
            },
        },
        "figures": {
            "roc": "figures/roc.png",
            "calibration": "figures/calibration.png",
            "slice_f1": "figures/slice_f1.png",
            "disparity": "figures/disparity.png",
        },
    }


@pytest.fixture
def card(ctx):
    return render_model_card(ctx)


def test_every_section_heading_is_present_in_order(card):
    positions = [card.index(f"\n{heading}\n") for heading in SECTIONS]
    assert positions == sorted(positions)


def test_model_details_come_from_ctx(card):
    assert card.startswith("# Model card: census-income 1.2.0\n")
    for text in [
        "`HistGradientBoostingClassifier`",
        "Predicts whether income is high (target `salary`: `>50K` against `<=50K`)",
        "- Teaching slice evaluation.",
        "- Decisions about individuals.",
    ]:
        assert text in card
    assert "| `learning_rate` | `0.05` |" in card
    assert "| scikit-learn | 1.9.1 |" in card
    assert f"| adult.data | `{'d' * 64}` |" in card


def test_data_section_lists_counts_features_and_cleaning(card):
    assert "Training rows: 32561; test rows: 16281" in card
    assert "Features (3): `age`, `sex`, `hours-per-week`" in card
    assert "- dropped rows with '?'" in card
    assert "positive class `>50K`" in card


def test_overall_metrics_are_formatted_to_four_decimals(card):
    for line in [
        "| Precision | 0.7812 |",
        "| Recall | 0.6543 |",
        "| F1 | 0.7122 |",
        "| Accuracy | 0.8701 |",
        "| ROC AUC | 0.9247 |",
        "| Brier score (lower is better) | 0.0914 |",
    ]:
        assert line in card


def test_cv_table_shows_mean_and_std_and_marks_the_selection(card):
    assert "| Candidate | roc_auc | accuracy |" in card
    assert "| logreg | 0.9011 ± 0.0032 | 0.8501 ± 0.0041 |" in card
    assert "| hgb (selected) | 0.9256 ± 0.0023 | 0.8707 ± 0.0030 |" in card
    assert "Selection criterion: highest mean roc_auc. Selected: **hgb**." in card


def test_cv_given_as_a_dict_renders_the_same(ctx, card):
    ctx["cv"] = {
        "rows": ctx.pop("cv"),
        "selection_criterion": ctx.pop("selection_criterion"),
        "selected": ctx.pop("selected"),
    }
    assert render_model_card(ctx) == card


def test_calibration_section_reports_brier_and_links_the_curve(card):
    section = card.split("## Calibration")[1].split("## Slices")[0]
    assert "0.0914" in section
    assert "(figures/calibration.png)" in section


def test_slices_section_lists_flagged_and_weakest_and_links_report(card):
    section = card.split("## Slices")[1].split("## Bias findings")[0]
    assert "3 slices evaluated; 1 too small to judge; 1 flagged" in section
    assert "overall 0.712" in section
    assert "| sex | Female | 412 | 0.612 | 0.432 | 0.507 |" in section
    assert "| sex | Male | 876 | 0.734 | 0.654 | 0.692 |" in section
    assert "[reports/slice_output.txt](reports/slice_output.txt)" in section


def test_bias_section_names_the_unfair_metric(card):
    section = card.split("## Bias findings")[1].split("## Caveats")[0]
    assert "Unfair metrics found — sex: fpr." in section
    assert "| sex | Male | fair | fair | fair | **unfair** | fair | fair |" in section


def test_figures_are_linked_as_images(card):
    section = card.split("## Figures")[1]
    for path in ["roc", "calibration", "slice_f1", "disparity"]:
        assert f"](figures/{path}.png)" in section
    assert "![ROC curve](figures/roc.png)" in section


def test_caveats_follow_the_findings(card):
    section = card.split("## Caveats and recommendations")[1].split("## Figures")[0]
    assert "1994" in section
    assert "`sex`" in section  # sensitive input and unfair attribute
    assert "Flagged slices" in section


def test_data_section_shows_how_each_imputed_number_is_filled(ctx, card):
    name = ctx["data"]["features"][0]
    ctx["data"]["imputed"] = {name: "filled with the training data's median (31)"}
    shown = render_model_card(ctx)
    assert f"- `{name}`: filled with the training data's median (31)" in shown
    assert "Missing numbers (null in the API)" in shown
    assert "Missing numbers" not in card  # none imputed: no such list


def test_threshold_section_names_the_rule_the_value_and_the_out_of_fold_figures(card):
    section = card.split("## Decision threshold")[1].split("## Calibration")[0]
    assert "predicted `>50K` when its probability reaches **0.3123**" in section
    assert "highest F1 of the positive class" in section
    assert "Out of fold (5-fold CV on the training set)" in section
    for line in ["| Precision | 0.6661 |", "| Recall | 0.7123 |", "| F1 | 0.6885 |"]:
        assert line in section
    assert "publishes no" not in section


def test_threshold_section_says_a_fixed_value_and_a_class_without_example(ctx):
    ctx["threshold"].update(rule="fixed", value=0.5, lacking_examples=[">50K"])
    section = render_model_card(ctx).split("## Decision threshold")[1]
    section = section.split("## Calibration")[0]
    assert "reaches **0.5000**: fixed in params.yaml (`evaluate.threshold`)" in section
    assert "the bundle publishes no `>50K` example" in section


def test_threshold_section_states_a_floor_rule_with_its_floor(ctx):
    ctx["threshold"].update(rule="precision", at_least=0.8)
    card = render_model_card(ctx)
    assert "highest recall with precision at least 0.8" in card


def test_data_section_counts_what_cleaning_removed_citing_the_report(ctx):
    ctx["data"]["removed"] = {
        "rows_read": 1000,
        "rows_kept": {"train": 700, "test": 250},
        "removed": [
            {"step": "duplicates", "rows": 40, "why": "exact repeats of another row"},
            {"step": "no target", "rows": 10, "why": "the target is missing"},
        ],
        "removed_share": 0.05,
    }
    section = render_model_card(ctx).split("## Data and processing")[1]
    assert (
        "Rows removed by cleaning ([reports/cleaning.json](reports/cleaning.json)): "
        "50 of 1000 read (5.0%)." in section
    )
    assert "| duplicates | 40 | exact repeats of another row |" in section


TASK_SECTIONS = [
    "## Model details",
    "## Intended use",
    "## Data and processing",
    "## Metrics",
    "## Slices",
    "## Bias findings",
    "## Caveats and recommendations",
    "## Figures",
]


def task_ctx(ctx, task: str) -> dict:
    """The binary ctx made a multiclass or a regression model's, as
    training/task_eval.py builds it (no threshold; the task's key)."""
    out = {**ctx, "threshold": None, "data": dict(ctx["data"])}
    if task == "multiclass":
        out["metrics"] = {"log_loss": 0.41234, "f1_macro": 0.81234, "accuracy": 0.85}
        row = {"accuracy": 0.61234, "f1_macro": 0.55123, "recall": {"low": 0.5}}
        out["task"] = {
            "task": "multiclass",
            "overall": 0.81234,
            "limit": 0.71234,
            "margin": 0.1,
            "classes": [
                {"name": "low", "support": 40, "precision": 0.75, "recall": 0.5},
                {"name": "high", "support": 60, "precision": 0.8, "recall": 0.93333},
            ],
        }
        out["figures"] = {"confusion_matrix": "reports/figures/confusion_matrix.png"}
        out["data"]["target_is"] = "one of the classes `low`, `high`"
    else:
        out["metrics"] = {"rmse": 812.5, "mae": 640.25, "r2": 0.93121}
        row = {"rmse": 990.5, "mae": 700.0, "mean_prediction": 52.0, "mean_actual": 50}
        out["task"] = {
            "task": "regression",
            "overall": 812.5,
            "limit": 893.75,
            "margin": 0.1,
            "range": [-10.0, 50.5, 900.0],
        }
        out["figures"] = {
            "predicted_vs_actual": "reports/figures/predicted_vs_actual.png",
            "residuals": "reports/figures/residuals.png",
        }
        out["data"]["target_is"] = "a number (regression)"
    flagged = {"feature": "sex", "value": "Female", "support": 412, **row}
    out["slices"] = [{**flagged, "too_small": False, "flagged": True}]
    out["weakest_slices"] = out["slices"]
    return out


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_a_task_card_has_the_sections_of_its_task_in_order(ctx, task):
    from training.model_card import render_task_card

    card = render_task_card(task_ctx(ctx, task))
    positions = [card.index(f"\n{heading}\n") for heading in TASK_SECTIONS]
    assert positions == sorted(positions)
    assert "## Decision threshold" not in card and "## Calibration" not in card
    assert "positive class" not in card and "`>50K`" not in card
    assert "1 flagged" in card and "| sex | Female | 412 |" in card


def test_a_multiclass_card_lists_each_class_and_links_the_confusion_matrix(ctx):
    from training.model_card import render_task_card

    card = render_task_card(task_ctx(ctx, "multiclass"))
    assert "(target `salary`: one of `low`, `high`)" in card
    assert "- Target: `salary`, one of the classes `low`, `high`" in card
    assert "| Macro F1 | 0.8123 |" in card and "| Log loss (lower is better) |" in card
    assert "| `high` | 60 | 0.8000 | 0.9333 |" in card
    assert "macro F1 below the overall 0.812 by more than 0.100" in card
    assert "| sex | Female | 412 | 0.612 | 0.551 |" in card
    assert "![Confusion matrix](reports/figures/confusion_matrix.png)" in card


def test_a_regression_card_gives_the_error_in_the_target_range_and_its_figures(ctx):
    from training.model_card import render_task_card

    card = render_task_card(task_ctx(ctx, "regression"))
    assert "(target `salary`: a number)" in card
    assert "| RMSE (lower is better) | 812.5000 |" in card and "| R² | 0.9312 |" in card
    assert "lowest -10.0000, median 50.5000, highest 900.0000" in card
    assert "RMSE above 893.7500, the overall 812.5000 plus 10%" in card
    assert "Weakest judgeable slices (highest RMSE):" in card
    assert "| sex | Female | 412 | 990.5000 | 700.0000 | 52.0000 | 50 |" in card
    assert "![Predicted vs actual](reports/figures/predicted_vs_actual.png)" in card
    assert "![Residuals](reports/figures/residuals.png)" in card


PROMOTION = {
    "version": "hist_gradient_boosting-bbbbbbbbbbbb",
    "previous": "logistic_regression-aaaaaaaaaaaa",
    "promoted_at": "2026-11-30T16:00:00+00:00",
    "selection_metric": "roc_auc",
    "metrics": {"roc_auc": 0.91},
    "difference": {"value": 0.0123, "low": 0.004, "high": 0.021, "confidence": 0.95},
    "gate": {
        "metric": "roc_auc: challenger 0.9100, champion 0.8977, difference +0.0123",
        "latency": "latency: 0.100 ms per record, champion 0.090 ms: ratio 1.11",
    },
}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_promoted_card_cites_the_registry_entry_after_the_model_details(ctx, task):
    from training.model_card import render_task_card

    render = render_model_card if task == "binary" else render_task_card
    plain = ctx if task == "binary" else task_ctx(ctx, task)
    card = render({**plain, "promotion": PROMOTION})
    section = card.split("\n## Promotion\n")[1].split("\n## ")[0]
    assert card.index("\n## Model details\n") < card.index("\n## Promotion\n")
    assert "(`model/registry.json`, docs/lifecycle.md)" in section
    assert "| Version | hist_gradient_boosting-bbbbbbbbbbbb |" in section
    assert "| Promoted at (UTC) | 2026-11-30T16:00:00+00:00 |" in section
    assert "| Previous version | logistic_regression-aaaaaaaaaaaa |" in section
    assert "| +0.0123 (95% CI [+0.0040, +0.0210]) |" in section
    for line in PROMOTION["gate"].values():
        assert f"- {line}" in section
    # A model `make train` made has no registry entry: its card is as before.
    assert "## Promotion" not in render(plain) == render({**plain, "promotion": None})


def test_the_data_section_counts_the_labelled_records_added_to_training(ctx):
    ctx["data"]["removed"] = {
        "rows_read": 1000,
        "rows_kept": {"train": 750, "test": 250},
        "removed": [],
        "removed_share": 0.0,
        "labelled": {"path": "/x/labelled.csv", "rows_read": 120, "rows_added": 117},
    }
    section = render_model_card(ctx).split("## Data and processing")[1]
    assert (
        "Labelled captured records added to the training split: 117 of the 120 in "
        "`labelled.csv`" in section
    )

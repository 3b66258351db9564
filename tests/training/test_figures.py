"""Figures: each function writes one real PNG atomically."""

import numpy as np
import pandas as pd
import pytest

from training.figures import calibration_png, disparity_png, roc_curve_png, slice_f1_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 200)
    proba = np.clip(0.3 * y_true + rng.uniform(0, 0.7, 200), 0, 1)
    return y_true, proba


@pytest.fixture
def table():
    return pd.DataFrame(
        {
            "feature": ["sex", "sex", "age-band"],
            "value": ["F", "M", "65+"],
            "support": [40, 50, 2],
            "f1": [0.4, 0.7, 0.0],
            "too_small": [False, False, True],
            "flagged": [True, False, False],
        }
    )


@pytest.fixture
def audit():
    def group(size, fpr, fnr, pprev):
        return {
            "size": size,
            "disparity": {"fpr": fpr, "fnr": fnr, "pprev": pprev},
        }

    return {
        "band": [0.8, 1.25],
        "attributes": {
            "sex": {
                "reference": "Male",
                "groups": {
                    "Male": group(7, 1.0, 1.0, 1.0),
                    "Female": group(5, 0.5, None, 1.4),
                },
            },
            "race": {
                "reference": "White",
                "groups": {"White": group(9, 1.0, 1.0, 1.0)},
            },
        },
    }


def assert_only_png(tmp_path, written, expected):
    assert written == expected
    assert written.read_bytes()[:8] == PNG_MAGIC
    assert written.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == [expected.name]


def test_roc_curve_writes_a_png_and_no_temp_files(tmp_path, scores):
    path = tmp_path / "roc.png"
    assert_only_png(tmp_path, roc_curve_png(*scores, path), path)


def test_calibration_writes_a_png_and_no_temp_files(tmp_path, scores):
    path = tmp_path / "calibration.png"
    assert_only_png(tmp_path, calibration_png(*scores, path, n_bins=5), path)


def test_slice_f1_writes_a_png_and_no_temp_files(tmp_path, table):
    path = tmp_path / "slice_f1.png"
    assert_only_png(tmp_path, slice_f1_png(table, 0.6, path), path)


def test_slice_f1_without_judgeable_slices_still_writes_a_png(tmp_path, table):
    path = tmp_path / "slice_f1.png"
    small = table.assign(too_small=True)
    assert_only_png(tmp_path, slice_f1_png(small, 0.6, path), path)


def test_disparity_writes_a_png_and_no_temp_files(tmp_path, audit):
    path = tmp_path / "disparity.png"
    assert_only_png(tmp_path, disparity_png(audit, path), path)


def test_existing_figure_is_replaced(tmp_path, scores):
    path = tmp_path / "roc.png"
    path.write_bytes(b"old")
    assert_only_png(tmp_path, roc_curve_png(*scores, path), path)


def test_roc_with_a_single_class_is_rejected_and_writes_nothing(tmp_path):
    with pytest.raises(ValueError):
        roc_curve_png(np.ones(5), np.linspace(0, 1, 5), tmp_path / "roc.png")
    assert list(tmp_path.iterdir()) == []


def test_a_confusion_matrix_writes_a_png_and_no_temp_files(tmp_path):
    from training.figures import confusion_matrix_png

    path = tmp_path / "confusion_matrix.png"
    y = np.array([0, 1, 2, 2, 1, 0, 2])
    # A class predicted for nothing and one never true still get their row and column.
    written = confusion_matrix_png(
        y, np.array([0, 1, 2, 1, 1, 0, 2]), list("abcd"), path
    )
    assert_only_png(tmp_path, written, path)


def test_predicted_vs_actual_and_residuals_write_pngs(tmp_path):
    from training.figures import predicted_vs_actual_png, residuals_png

    rng = np.random.default_rng(0)
    y = rng.normal(100, 30, 200)
    value = y + rng.normal(0, 10, 200)
    path = tmp_path / "predicted_vs_actual.png"
    assert_only_png(tmp_path, predicted_vs_actual_png(y, value, path), path)
    residuals = residuals_png(y, value, tmp_path / "residuals.png")
    assert residuals.read_bytes()[:8] == PNG_MAGIC


def test_slice_bars_of_an_error_scale_to_the_largest_one(tmp_path, table):
    path = tmp_path / "slice_rmse.png"
    errors = table.rename(columns={"f1": "rmse"}).assign(rmse=[400.0, 250.0, 9.0])
    assert_only_png(tmp_path, slice_f1_png(errors, 300.0, path, "rmse", "RMSE"), path)


def test_disparity_shows_the_metrics_it_is_given(tmp_path):
    groups = {
        g: {"size": 5, "disparity": {"mae": d, "mean_prediction": 1.0}}
        for g, d in (("a", 1.0), ("b", None))
    }
    audit = {
        "band": [0.8, 1.25],
        "attributes": {"g": {"reference": "a", "groups": groups}},
    }
    path = tmp_path / "disparity.png"
    written = disparity_png(audit, path, ("mae", "mean_prediction"))
    assert_only_png(tmp_path, written, path)

"""The monitoring report's figures as PNG files, in the model card's style
(Figure objects, no pyplot state, atomic writes: monitoring/rendering.py)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from monitoring.stability import PSI_SIGNIFICANT
from monitoring.rendering import BAR_COLOR, FLAG_COLOR, save_figure

REFERENCE_COLOR = "lightgrey"
COLUMNS = 3
# Slices with fewer records than this (live or held-out) are left out of the rates
# figure and table: their rates are mostly noise.
MIN_SUPPORT = 30


def _bars(ax, bins: list[dict], title: str, flagged: bool) -> None:
    """Reference vs live share per bin, side by side."""
    x = np.arange(len(bins))
    ref = [b["reference_share"] for b in bins]
    live = [b["share"] or 0.0 for b in bins]
    ax.bar(x - 0.2, ref, 0.4, color=REFERENCE_COLOR, label="training")
    ax.bar(x + 0.2, live, 0.4, color=FLAG_COLOR if flagged else BAR_COLOR, label="live")
    ax.set_xticks(x, [b["bin"] for b in bins], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, color=FLAG_COLOR if flagged else "black", fontsize=10)
    ax.set_ylabel("share", fontsize=8)


def feature_histograms(features: list[dict], path: Path) -> Path:
    """Every feature's reference vs live histogram, most drifted first."""
    rows = math.ceil(len(features) / COLUMNS)
    fig = Figure(figsize=(4.2 * COLUMNS, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, COLUMNS, squeeze=False).ravel()
    for ax, feature in zip(axes, features):
        value = feature["psi"]
        shown = "n/a" if value is None else f"{value:.3f}"
        drifted = value is not None and value > PSI_SIGNIFICANT
        _bars(ax, feature["bins"], f"{feature['name']} (PSI {shown})", drifted)
    for ax in axes[len(features) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=8)
    fig.suptitle("Training (grey) vs live share per bin; red: PSI above 0.2")
    return save_figure(fig, path)


def prediction_png(
    prediction: dict, path: Path, what: str = "Predicted probability"
) -> Path:
    """The prediction's bins (`what`: probability, class or value), training vs live."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    value = prediction["psi"]
    drifted = value is not None and value > PSI_SIGNIFICANT
    shown = "n/a" if value is None else f"{value:.3f}"
    _bars(ax, prediction["bins"], f"{what} (PSI {shown})", drifted)
    ax.legend()
    return save_figure(fig, path)


def slice_points(slices: list[dict]) -> list[dict]:
    """Each slice's (each class's, multiclass) live figure against training's, where
    both sides hold MIN_SUPPORT records, furthest moved first (in standard errors; a
    regression's mean prediction has none: by its difference)."""
    points = []
    for g in slices:
        for v in g["values"]:
            if min(v["records"], v["reference_support"]) < MIN_SUPPORT:
                continue
            name = f"{g['feature']}={v['value']}"
            if "classes" in v:
                figures = [
                    (f"{name} {c['class']}", c["rate"], c["reference_rate"], c)
                    for c in v["classes"]
                ]
            elif "mean_prediction" in v:
                figures = [
                    (name, v["mean_prediction"], v["reference_mean_prediction"], v)
                ]
            else:
                figures = [(name, v["positive_rate"], v["reference_positive_rate"], v)]
            points += [
                {
                    "name": label,
                    "records": v["records"],
                    "live": live,
                    "reference": ref,
                    "z": at.get("z"),
                    "far": bool(at.get("far_from_training")),
                }
                for label, live, ref, at in figures
                if live is not None and ref is not None
            ]
    points.sort(key=lambda p: -moved(p))
    return points


def moved(point: dict) -> float:
    """How far a slice point moved: |z|, or |live - training| without one."""
    if point["z"] is not None:
        return abs(point["z"])
    return abs(point["live"] - point["reference"])


def slice_rates_png(
    slices: list[dict], path: Path, top: int = 20, what: str = "predicted-positive rate"
) -> Path:
    """The task's slice figure (`what`) of the slices that moved most: training vs
    live."""
    rows = slice_points(slices)[:top][::-1]
    fig = Figure(figsize=(8, 0.35 * len(rows) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ref = [p["reference"] for p in rows]
    live = [p["live"] for p in rows]
    colors = [FLAG_COLOR if p["far"] else BAR_COLOR for p in rows]
    ax.hlines(y, ref, live, color="grey", linewidth=1)
    ax.scatter(
        ref, y, color=REFERENCE_COLOR, edgecolor="black", label="training", zorder=3
    )
    ax.scatter(live, y, color=colors, label="live", zorder=3)
    ax.set_yticks(y, [p["name"] for p in rows], fontsize=8)
    title = f"Slices furthest from training, >= {MIN_SUPPORT} records"
    if "rate" in what:  # a rate is judged; a mean prediction is not
        ax.set_xlim(0, 1)
        title += " (red: far from training)"
    ax.set(xlabel=what, title=title)
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def slice_f1_png(table: pd.DataFrame, path: Path) -> Path:
    """F1 per judgeable slice on labelled live records, against training's."""
    judged = table[~table["too_small"].astype(bool)].copy()
    judged["name"] = judged["feature"] + "=" + judged["value"].astype(str)
    judged = judged.sort_values("f1").head(25)[::-1]
    fig = Figure(figsize=(8, 0.35 * len(judged) + 1.5), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(judged))
    colors = [FLAG_COLOR if f else BAR_COLOR for f in judged["flagged"]]
    ax.barh(y, judged["f1"], color=colors, label="live F1")
    trained = judged["training_f1"].astype(float)
    ax.scatter(trained, y, color="black", marker="|", s=200, label="training F1")
    overall = table.attrs.get("overall_f1")
    if overall is not None:
        ax.axvline(overall, linestyle="--", color="grey", label="live overall F1")
    ax.set_yticks(y, judged["name"], fontsize=8)
    ax.set(xlim=(0, 1), xlabel="F1", title="Live slice F1 (red: weak slice)")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(fig, path)

"""Bias audit in the style of Aequitas, built on fairlearn's MetricFrame.

Per group of a sensitive attribute: group metrics, their disparity (ratio to a
reference group) and whether each disparity lies in the fairness band.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, count
from numpy.typing import ArrayLike
from bundle.profile import MISSING
from training.metrics import as_binary

# Metrics whose disparity is judged; tpr is 1 - fnr but its ratio differs.
DISPARITY_METRICS = ("pprev", "ppr", "precision", "fpr", "fnr", "tpr")
# Disparities are ratios of count fractions; float rounding must not flip a band edge.
EPS = 1e-9


def _tp(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_true == 1) & (y_pred == 1)).sum())


def _fp(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_true == 0) & (y_pred == 1)).sum())


def _fn(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_true == 1) & (y_pred == 0)).sum())


def _tn(y_true: np.ndarray, y_pred: np.ndarray) -> int:
    return int(((y_true == 0) & (y_pred == 0)).sum())


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    """num / den with NaN where den is 0: an undefined rate is not a zero rate."""
    num, den = num.astype(float), den.astype(float)
    return (num / den.where(den != 0)).astype(float)


def group_names(sensitive: pd.Series) -> pd.Series:
    """The attribute's values as group names (str), NaN as "(missing)", positioned 0..n-1."""
    return pd.Series(
        sensitive.astype(object)
        .where(sensitive.notna(), MISSING)
        .astype(str)
        .to_numpy(dtype=object),
        name=sensitive.name if sensitive.name is not None else "group",
    )


def group_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, sensitive: pd.Series
) -> pd.DataFrame:
    """Per-group counts and rates of one attribute, indexed by group name (str).

    Columns: size, label_positives, predicted_positives, tp, fp, fn, tn, prev, pprev
    (predicted positives / size), ppr (share of all predicted positives), precision,
    fdr, for, fpr, fnr, tpr, tnr. A rate with a zero denominator is NaN. Rows align
    with y_true/y_pred by position; NaN groups are "(missing)".
    """
    n = len(sensitive)
    yt = as_binary(y_true, "y_true", n)
    yp = as_binary(y_pred, "y_pred", n)
    groups = group_names(sensitive)
    name = groups.name
    frame = MetricFrame(
        metrics={"size": count, "tp": _tp, "fp": _fp, "fn": _fn, "tn": _tn},
        y_true=yt,
        y_pred=yp,
        sensitive_features=groups,
    )
    c = frame.by_group.astype(int)
    c.index = c.index.astype(str)
    c.index.name = name
    out = pd.DataFrame(index=c.index)
    out["size"] = c["size"]
    out["label_positives"] = c["tp"] + c["fn"]
    out["predicted_positives"] = c["tp"] + c["fp"]
    for k in ("tp", "fp", "fn", "tn"):
        out[k] = c[k]
    pp = out["predicted_positives"]
    out["prev"] = _ratio(out["label_positives"], c["size"])
    out["pprev"] = _ratio(pp, c["size"])
    out["ppr"] = _ratio(pp, pd.Series(pp.sum(), index=pp.index))
    out["precision"] = _ratio(c["tp"], pp)
    out["fdr"] = _ratio(c["fp"], pp)
    out["for"] = _ratio(c["fn"], c["fn"] + c["tn"])
    out["fpr"] = _ratio(c["fp"], c["fp"] + c["tn"])
    out["fnr"] = _ratio(c["fn"], c["tp"] + c["fn"])
    out["tpr"] = _ratio(c["tp"], c["tp"] + c["fn"])
    out["tnr"] = _ratio(c["tn"], c["fp"] + c["tn"])
    return out


def _reference_group(groups: pd.DataFrame, reference: str | None) -> str:
    """The configured reference group, else the largest (first on ties)."""
    if reference is None:
        return str(groups["size"].idxmax())
    if str(reference) not in groups.index:
        raise ValueError(
            f"reference group {reference!r} not among {list(groups.index)}"
        )
    return str(reference)


def disparities(
    groups: pd.DataFrame,
    reference: str | None = None,
    judged: tuple[str, ...] = DISPARITY_METRICS,
) -> pd.DataFrame:
    """Each group's `judged` metrics divided by the reference group's value.

    The reference defaults to the largest group and is stored in attrs["reference"].
    A zero or NaN denominator gives NaN (the determination is then "undefined").
    """
    ref = _reference_group(groups, reference)
    metrics = [m for m in judged if m in groups.columns]
    values = groups[metrics].astype(float)
    base = values.loc[ref]
    disp = values.div(base.where(base != 0), axis=1)
    disp = disp.replace([np.inf, -np.inf], np.nan)
    disp.attrs["reference"] = ref
    return disp


def fairness(
    disp: pd.DataFrame, band: tuple[float, float] = (0.8, 1.25)
) -> pd.DataFrame:
    """Nullable booleans: True where band[0] <= disparity <= band[1], <NA> if NaN."""
    lo, hi = band
    if lo > hi:
        raise ValueError(f"band {band} is not (low, high)")
    inside = (disp >= lo - EPS) & (disp <= hi + EPS)
    return inside.astype("boolean").mask(disp.isna())


def _num(x: Any) -> float | int | None:
    """A JSON-safe number: Python int/float, NaN as None."""
    if x is None or pd.isna(x):
        return None
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return int(x)
    return float(x)


def _determination(flags: list[bool | None]) -> str:
    """Attribute-level verdict for one metric over all its groups."""
    if any(f is False for f in flags):
        return "unfair"
    if any(f is None for f in flags):
        return "undefined"
    return "fair"


def bias_audit(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    frame: pd.DataFrame,
    attributes: list[str],
    reference: dict[str, str] | None = None,
    band: tuple[float, float] = (0.8, 1.25),
) -> dict:
    """JSON-serialisable audit: per attribute its reference, groups and summary.

    An attribute is "unfair" for a metric when any group's disparity is outside the
    band, else "undefined" when any group's disparity is NaN, else "fair".
    """
    return audit_groups(
        lambda sensitive: group_metrics(y_true, y_pred, sensitive),
        DISPARITY_METRICS,
        frame,
        attributes,
        reference,
        band,
    )


def audit_groups(
    per_group: Callable[[pd.Series], pd.DataFrame],
    judged: tuple[str, ...],
    frame: pd.DataFrame,
    attributes: list[str],
    reference: dict[str, str] | None = None,
    band: tuple[float, float] = (0.8, 1.25),
) -> dict:
    """The audit of any task: `per_group` gives an attribute's group table (indexed by
    group name, with a `size` column) and `judged` names the metrics whose disparity
    is judged against the band."""
    reference = reference or {}
    audit: dict[str, Any] = {
        "band": [float(band[0]), float(band[1])],
        "metrics": list(judged),
        "attributes": {},
        "summary": {},
    }
    for attr in attributes:
        groups = per_group(frame[attr].reset_index(drop=True))
        disp = disparities(groups, reference.get(attr), judged)
        fair = fairness(disp, band)
        entry: dict[str, Any] = {}
        for group in groups.index:
            # Column-wise .at keeps count columns int (a row Series upcasts to float).
            record = {k: _num(groups.at[group, k]) for k in groups.columns}
            record["disparity"] = {m: _num(disp.loc[group, m]) for m in disp.columns}
            record["fair"] = {
                m: None if pd.isna(fair.loc[group, m]) else bool(fair.loc[group, m])
                for m in fair.columns
            }
            entry[str(group)] = record
        audit["attributes"][attr] = {
            "reference": disp.attrs["reference"],
            "groups": entry,
        }
        audit["summary"][attr] = {
            m: _determination([g["fair"][m] for g in entry.values()])
            for m in disp.columns
        }
    return audit


def class_group_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, names: list[str], sensitive: pd.Series
) -> pd.DataFrame:
    """Per group of a multiclass model (class indices in the order of `names`): size,
    and per class `recall:<name>` (NaN without a record of it) and `selection_rate:<name>`
    (the group's share predicted as it)."""
    yt, yp = np.asarray(y_true), np.asarray(y_pred)
    groups = group_names(sensitive)
    rows = {}
    for group, index in groups.groupby(groups, sort=True).groups.items():
        t, p = yt[index], yp[index]
        row: dict[str, Any] = {"size": len(index)}
        for k, name in enumerate(names):
            actual = int((t == k).sum())
            row[f"recall:{name}"] = (
                float(((t == k) & (p == k)).sum()) / actual if actual else np.nan
            )
            row[f"selection_rate:{name}"] = float((p == k).mean())
        rows[str(group)] = row
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = groups.name
    return out


def class_metric_names(names: list[str]) -> tuple[str, ...]:
    """The judged metrics of a multiclass audit: each class's recall, then selection rate."""
    return tuple(f"recall:{n}" for n in names) + tuple(
        f"selection_rate:{n}" for n in names
    )


# A regression's judged metrics: the error's size, and the level it predicts.
REGRESSION_METRICS = ("mae", "rmse", "mean_prediction")


def regression_group_metrics(
    y_true: ArrayLike, value: ArrayLike, sensitive: pd.Series
) -> pd.DataFrame:
    """Per group of a regression: size, mae, rmse, mean_prediction and mean_actual."""
    yt, yp = np.asarray(y_true, dtype=float), np.asarray(value, dtype=float)
    groups = group_names(sensitive)
    rows = {}
    for group, index in groups.groupby(groups, sort=True).groups.items():
        t, p = yt[index], yp[index]
        rows[str(group)] = {
            "size": len(index),
            "mae": float(np.abs(p - t).mean()),
            "rmse": float(np.sqrt(((p - t) ** 2).mean())),
            "mean_prediction": float(p.mean()),
            "mean_actual": float(t.mean()),
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = groups.name
    return out


def _cell(value: float | None, disparity: float | None, fair: bool | None) -> str:
    """A group-table cell: value (disparity), bold when outside the band."""
    if value is None:
        return "n/a"
    ratio = "n/a" if disparity is None else f"{disparity:.3f}"
    text = f"{value:.3f} ({ratio})"
    return f"**{text}**" if fair is False else text


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def _unfair_findings(audit: dict) -> list[str]:
    """One sentence per unfair (attribute, metric): the groups outside the band."""
    findings = []
    for attr, verdicts in audit["summary"].items():
        groups = audit["attributes"][attr]["groups"]
        ref = audit["attributes"][attr]["reference"]
        for metric, verdict in verdicts.items():
            if verdict != "unfair":
                continue
            outside = ", ".join(
                f"{g} {rec['disparity'][metric]:.3f}"
                for g, rec in groups.items()
                if rec["fair"][metric] is False
            )
            findings.append(f"{attr}: {metric} vs {ref} ({outside})")
    return findings


# Said of a binary audit, whose ppr disparity follows group size.
PPR_NOTE = [
    "ppr (a group's share of all predicted positives) follows group size as well "
    "as model behaviour, so smaller groups show low ppr disparity by "
    "construction; read it with pprev.",
    "",
]


def format_bias(audit: dict) -> str:
    """Markdown summary of the audit: verdict table, unfair findings, group tables."""
    lo, hi = audit["band"]
    metrics = audit.get("metrics") or list(
        next(iter(audit["summary"].values()), {}).keys()
    )
    lines = [
        f"A group is fair on a metric when its disparity (its value divided by the "
        f"reference group's) lies in [{lo:.2f}, {hi:.2f}]; an attribute is unfair on "
        f"a metric when any group falls outside. Undefined: a zero denominator.",
        "",
        *PPR_NOTE[: 2 if "ppr" in metrics else 0],
        _row(["attribute", "reference", *metrics]),
        _row(["---"] * (2 + len(metrics))),
    ]
    for attr, verdicts in audit["summary"].items():
        cells = [f"**{v}**" if v == "unfair" else v for v in verdicts.values()]
        lines.append(_row([attr, audit["attributes"][attr]["reference"], *cells]))
    findings = _unfair_findings(audit)
    lines.append("")
    if findings:
        lines += ["Unfair metrics (groups outside the band, with disparity):", ""]
        lines += [f"- {f}" for f in findings]
    else:
        lines.append("No metric is outside the band for any audited attribute.")
    for attr, info in audit["attributes"].items():
        lines += [
            "",
            f"### {attr} (reference: {info['reference']})",
            "",
            "Cells: value (disparity vs reference); bold = outside the band.",
            "",
            _row(["group", "size", *metrics]),
            _row(["---"] * (2 + len(metrics))),
        ]
        for group, rec in info["groups"].items():
            cells = [
                _cell(rec.get(m), rec["disparity"].get(m), rec["fair"].get(m))
                for m in metrics
            ]
            lines.append(_row([group, str(rec["size"]), *cells]))
    return "\n".join(lines) + "\n"

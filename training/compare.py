"""`make compare`: the champion (model/) and the challenger (make challenger) scored on
the same held-out rows, a report of both, and the promotion gate of params.yaml
`promote:`.

Measured, each model by its own bundle as the service scores: train.selection_metric
with a paired bootstrap confidence interval of the difference, every slice both can
measure (evaluate.slices), the bias audit's disparities outside evaluate.bias.fair_band,
the median per-record latency in this process (the two models interleaved, record by
record, so both see the same load) and the challenger's ONNX parity. The report is
build/compare/report.md with compare.json and a figure; the exit status is 0 only when
every check of the gate holds, 1 when one fails (each named in one line), 2 for a
configuration or a bundle that cannot be compared. With --labelled (recent labelled
capture: `make monitor LABELS=...`'s labelled.csv) the report adds both models' metrics
on those rows too: reported, not gated.
`python -m training.compare [--champion model] [--challenger build/challenger/model]
[--rows held-out.csv] [--labelled labelled.csv]`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bundle.files import sha256_file, write_json_atomic, write_text_atomic
from bundle.format import BINARY, MULTICLASS, REGRESSION
from bundle.paths import ROOT
from bundle.store import LoadedBundle, load_bundle
from monitoring.rendering import BAR_COLOR, FLAG_COLOR, save_figure
from monitoring.slices import add_bands
from training import evaluate, task_eval
from training.challenger import CHALLENGER
from training.config import ConfigError, FeatureSpec, Paths
from training.features import frame_to_columns, model_frame, read_processed, split_xy
from training.metrics import labels_from_proba, metric, task_metrics
from training.params import LOWER_IS_BETTER, PARAMS_FILE, Params, load

COMPARE = ROOT / "build" / "compare"
# The slice measure each task's slice table holds (training/evaluate.py, task_eval.py).
SLICE_MEASURE = {BINARY: "f1", MULTICLASS: "f1_macro", REGRESSION: "rmse"}
RESAMPLES = 500
CONFIDENCE = 0.95
# Records timed one at a time per model (after one warm-up call each).
LATENCY_RECORDS = 200


@dataclass(frozen=True)
class Scored:
    """One model's scores on the held-out rows and what they give."""

    model: LoadedBundle
    scores: np.ndarray
    metrics: dict[str, float]
    slices: pd.DataFrame
    audit: dict


@dataclass(frozen=True)
class Check:
    """One check of the gate: its name, whether it holds, and the line saying why."""

    name: str
    passed: bool
    line: str


def model_columns(X: pd.DataFrame, spec: FeatureSpec, model: LoadedBundle) -> dict:
    """The columns of `X` the bundle takes, as the predictor takes them (a challenger
    may use fewer features than params.yaml declares)."""
    cols = frame_to_columns(X, spec)
    lacking = [f for f in model.metadata.feature_names if f not in cols]
    if lacking:
        raise ConfigError(
            f"{model.path}: feature {lacking[0]!r} is not one of params.yaml's "
            "features: the rows cannot be scored by it"
        )
    return {f: cols[f] for f in model.metadata.feature_names}


def measure(task: str, name: str, threshold, y, scores) -> float:
    """One metric of one model (its own threshold), for the bootstrap."""
    return metric(task, name, y, scores, threshold or 0.5)


def predicted_of(model: LoadedBundle, scores: np.ndarray) -> np.ndarray:
    """Labels (binary at the bundle's threshold, multiclass the likeliest) or values."""
    target = model.metadata.target
    if target.task == BINARY:
        return labels_from_proba(scores, target.threshold)
    return np.argmax(scores, axis=1) if target.task == MULTICLASS else scores


def score(model: LoadedBundle, test: pd.DataFrame, y, params: Params) -> Scored:
    """The model's scores, metrics, slice table and bias audit on the rows `test`."""
    spec, ev, target = params.features, params.evaluate, model.metadata.target
    X, _ = split_xy(test, spec)
    scores = model.predictor.proba_columns(model_columns(X, spec, model))
    scores = scores.astype(np.float64)
    predicted = predicted_of(model, scores)
    metrics = task_metrics(target.task, y, scores, target.threshold or 0.5)
    if target.task == BINARY:
        table = evaluate.slice_report(test, y, predicted, spec, ev, model.features)
        audit = evaluate.audit(test, y, predicted, ev, model.features)
    else:
        frame = add_bands(model_frame(test, tuple(model.features)), ev.slices.bands)
        features = spec.categorical + ev.slices.band_columns
        table = task_eval.slice_table(target, frame, y, predicted, features, ev)
        audit = task_eval.task_audit(target, test, y, predicted, ev, model.features)
    return Scored(model, scores, metrics, table, audit)


def check_comparable(champion: LoadedBundle, challenger: LoadedBundle) -> None:
    """Both models answer the same question: one task, and the same classes."""
    a, b = champion.metadata.target, challenger.metadata.target
    if a.task != b.task:
        raise ConfigError(
            f"the challenger is a {b.task} model, the champion a {a.task} one"
        )
    if a.task == MULTICLASS and list(a.classes) != list(b.classes):
        raise ConfigError("the challenger's classes are not the champion's")


def paired_bootstrap(y, measures, scores, seed: int) -> tuple[float, float, float]:
    """The difference challenger - champion of a metric and its bootstrap confidence
    interval, both models measured on the same resampled rows each time."""
    rng = np.random.default_rng(seed)
    point = measures[1](y, scores[1]) - measures[0](y, scores[0])
    diffs = []
    for _ in range(RESAMPLES):
        i = rng.integers(0, len(y), len(y))
        try:
            diffs.append(
                measures[1](y[i], scores[1][i]) - measures[0](y[i], scores[0][i])
            )
        except ValueError:  # a resample holding one class has no ROC AUC
            continue
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail]) if diffs else (point, point)
    return float(point), float(low), float(high)


def slice_pairs(champion: pd.DataFrame, challenger: pd.DataFrame, task: str):
    """Every slice both tables measure (large enough in both): feature, value, the two
    measures."""
    measure = SLICE_MEASURE[task]
    keys = ["feature", "value"]
    a = champion[~champion["too_small"]][[*keys, measure]]
    b = challenger[~challenger["too_small"]][[*keys, measure]]
    both = a.merge(b, on=keys, suffixes=("_champion", "_challenger"))
    return both.dropna().reset_index(drop=True)


def slice_worse(row, task: str, margin: float) -> bool:
    """Whether the challenger is worse on this slice by more than the margin."""
    measure = SLICE_MEASURE[task]
    a, b = row[f"{measure}_champion"], row[f"{measure}_challenger"]
    return b > a * (1 + margin) if task == REGRESSION else b < a - margin


def unfair(audit: dict) -> list[str]:
    """Every disparity outside the fair band: `attribute=group metric`."""
    out = []
    for attribute, result in audit.get("attributes", {}).items():
        for group, measures in result.get("groups", {}).items():
            for name, fair in (measures.get("fair") or {}).items():
                if fair is False:
                    out.append(f"{attribute}={group} {name}")
    return out


def latencies(models, X: pd.DataFrame, spec: FeatureSpec) -> list[float]:
    """Each model's median seconds to score one record, the models interleaved record
    by record (the same machine load for both)."""
    rows = [X.iloc[[i]] for i in range(min(LATENCY_RECORDS, len(X)))]
    columns = [[model_columns(r, spec, m) for r in rows] for m in models]
    for m, cols in zip(models, columns):
        m.predictor.proba_columns(cols[0])  # warm-up: first-call allocations
    times: list[list[float]] = [[] for _ in models]
    for i in range(len(rows)):
        for k, m in enumerate(models):
            start = time.perf_counter()
            m.predictor.proba_columns(columns[k][i])
            times[k].append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def parity_of(model: LoadedBundle) -> float:
    """The largest ONNX-vs-Pipeline difference the export measured on the test rows, as
    a share of the largest |value| for a regression (training/onnx_export.py)."""
    graphs = model.metadata.parity.values()
    diffs = [g.get("max_abs_diff", 0.0) / g.get("scale", 1.0) for g in graphs]
    return float(max(diffs, default=0.0))


def compare(
    champion_dir: Path, challenger_dir: Path, rows: Path, params: Params
) -> dict[str, Any]:
    """Score both models on `rows`, measure everything the gate reads, judge it."""
    champion, challenger = load_bundle(champion_dir), load_bundle(challenger_dir)
    check_comparable(champion, challenger)
    spec, ev, gate = params.features, params.evaluate, params.promote
    test = read_processed(rows, spec, "held-out")
    evaluate.check_columns(test, ev)
    target = champion.metadata.target
    classes = list(target.classes) if target.task == MULTICLASS else None
    X, y = split_xy(test, spec, classes)
    both = [score(m, test, y, params) for m in (champion, challenger)]
    name = params.train.selection_metric
    measures = [
        partial(measure, target.task, name, s.model.metadata.target.threshold)
        for s in both
    ]
    diff, low, high = paired_bootstrap(
        y, measures, [s.scores for s in both], params.train.seed
    )
    pairs = slice_pairs(both[0].slices, both[1].slices, target.task)
    worse = pairs[
        [slice_worse(r, target.task, gate.slice_margin) for _, r in pairs.iterrows()]
    ]
    result = {
        "rows": {"path": str(rows), "count": int(len(y))},
        "task": target.task,
        "versions": {"champion": champion.version, "challenger": challenger.version},
        "selection_metric": name,
        "metrics": {"champion": both[0].metrics, "challenger": both[1].metrics},
        "difference": {
            "value": diff,
            "low": low,
            "high": high,
            "confidence": CONFIDENCE,
            "resamples": RESAMPLES,
        },
        "slices": evaluate.records(pairs),
        "slices_worse": evaluate.records(worse),
        "unfair": {
            "champion": unfair(both[0].audit),
            "challenger": unfair(both[1].audit),
        },
        "latency_seconds": dict(
            zip(("champion", "challenger"), latencies([champion, challenger], X, spec))
        ),
        "parity": {
            "challenger": parity_of(challenger),
            "tolerance": params.train.parity_tolerance,
        },
    }
    result["checks"] = [c.__dict__ for c in checks(result, params)]
    result["passed"] = all(c["passed"] for c in result["checks"])
    return result


def trained_on(challenger_dir: Path, path: Path) -> bool:
    """Whether the challenger's training split holds this very file's rows (make
    challenger LABELLED=: its cleaning report keeps the file's SHA-256)."""
    cleaning = Paths(root=Path(challenger_dir).parent).cleaning
    try:
        labelled = json.loads(cleaning.read_text(encoding="utf-8")).get("labelled")
    except (OSError, ValueError):
        return False
    return bool(labelled) and labelled.get("sha256") == sha256_file(path)


def labelled_capture(
    champion_dir: Path, challenger_dir: Path, path: Path, params: Params
) -> dict[str, Any]:
    """Both models' metrics on recent labelled capture (reported, not gated)."""
    spec = params.features
    models = [load_bundle(champion_dir), load_bundle(challenger_dir)]
    rows = read_processed(path, spec, str(path))
    target = models[0].metadata.target
    classes = list(target.classes) if target.task == MULTICLASS else None
    X, y = split_xy(rows, spec, classes)
    metrics = {}
    for side, m in zip(("champion", "challenger"), models):
        scores = m.predictor.proba_columns(model_columns(X, spec, m)).astype(np.float64)
        try:
            metrics[side] = task_metrics(
                target.task, y, scores, m.metadata.target.threshold or 0.5
            )
        except ValueError as exc:  # one class only: no ROC AUC
            raise ConfigError(
                f"{path}: its {len(y)} labelled rows cannot be measured ({exc})"
            ) from None
    return {
        "path": str(path),
        "count": int(len(y)),
        "metrics": metrics,
        "challenger_trained_on_it": trained_on(challenger_dir, path),
    }


def checks(r: dict, params: Params) -> list[Check]:
    """The gate of params.yaml `promote:` against the measures `r`."""
    gate, metric = params.promote, r["selection_metric"]
    d, lower = r["difference"], metric in LOWER_IS_BETTER
    # The gain, positive when the challenger is better, whichever way the metric runs.
    gain = -d["value"] if lower else d["value"]
    champ, chall = (r["metrics"][k][metric] for k in ("champion", "challenger"))
    ci = f"{d['confidence']:.0%} CI [{d['low']:+.4f}, {d['high']:+.4f}]"
    out = [
        Check(
            "metric",
            gain >= -gate.tolerance,
            f"{metric}: challenger {chall:.4f}, champion {champ:.4f}, difference "
            f"{d['value']:+.4f} ({ci}); the gate allows {gate.tolerance} worse",
        )
    ]
    worse, measure = r["slices_worse"], SLICE_MEASURE[r["task"]]
    named = ", ".join(
        f"{w['feature']}={w['value']} {w[f'{measure}_champion']:.3f} -> "
        f"{w[f'{measure}_challenger']:.3f}"
        for w in worse[:5]
    )
    out.append(
        Check(
            "slices",
            not worse,
            f"slices: {len(worse)} of {len(r['slices'])} measured by both are worse "
            f"by more than {gate.slice_margin} on {measure}"
            + (f" ({named}{', ...' if len(worse) > 5 else ''})" if worse else ""),
        )
    )
    a, b = len(r["unfair"]["champion"]), len(r["unfair"]["challenger"])
    allowed = a if gate.fair_band_or_no_worse else 0
    out.append(
        Check(
            "fairness",
            b <= allowed,
            f"fairness: {b} disparities outside the fair band "
            f"{list(params.evaluate.bias.fair_band)} (champion {a}; allowed {allowed})",
        )
    )
    lat = r["latency_seconds"]
    ratio = lat["challenger"] / lat["champion"] if lat["champion"] else 1.0
    out.append(
        Check(
            "latency",
            ratio <= gate.latency_ratio,
            f"latency: {lat['challenger'] * 1e3:.3f} ms per record, champion "
            f"{lat['champion'] * 1e3:.3f} ms: ratio {ratio:.2f}, at most "
            f"{gate.latency_ratio}",
        )
    )
    p = r["parity"]
    out.append(
        Check(
            "parity",
            p["challenger"] <= p["tolerance"],
            f"parity: ONNX vs Pipeline differ by at most {p['challenger']:.2e} "
            f"(tolerance {p['tolerance']:.0e})",
        )
    )
    return out


def slices_png(r: dict, path: Path) -> Path:
    """Each slice's measure, champion against challenger, the worse ones marked."""
    measure = SLICE_MEASURE[r["task"]]
    worse = {(w["feature"], w["value"]) for w in r["slices_worse"]}
    a = [s[f"{measure}_champion"] for s in r["slices"]]
    b = [s[f"{measure}_challenger"] for s in r["slices"]]
    colors = [
        FLAG_COLOR if (s["feature"], s["value"]) in worse else BAR_COLOR
        for s in r["slices"]
    ]
    fig = Figure(figsize=(5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(a, b, c=colors, s=18)
    ends = [min(a + b, default=0), max(a + b, default=1)]
    ax.plot(ends, ends, linestyle="--", color="grey", label="equal")
    ax.set(
        xlabel=f"champion {measure}",
        ylabel=f"challenger {measure}",
        title=f"Slices ({len(a)} measured by both; red: worse beyond the margin)",
    )
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def render(r: dict) -> str:
    """The report as markdown."""
    v, metric = r["versions"], r["selection_metric"]
    verdict = "PASSED: make promote may replace the model" if r["passed"] else "REFUSED"
    lines = [
        "# Challenger vs champion",
        "",
        f"Champion `{v['champion']}`, challenger `{v['challenger']}`, on "
        f"{r['rows']['count']} held-out rows of `{r['rows']['path']}` ({r['task']}).",
        "",
        f"**Gate: {verdict}**",
        "",
        *[f"- {'pass' if c['passed'] else 'FAIL'}: {c['line']}" for c in r["checks"]],
        "",
        "## Metrics",
        "",
        "| metric | champion | challenger |",
        "|---|---|---|",
        *[
            f"| {'**' + k + '**' if k == metric else k} | {a:.4f} | "
            f"{r['metrics']['challenger'][k]:.4f} |"
            for k, a in r["metrics"]["champion"].items()
        ],
        "",
        "## Slices",
        "",
        "![slices](figures/slices.png)",
        "",
    ]
    for side in ("champion", "challenger"):
        found = r["unfair"][side]
        lines.append(
            f"Disparities outside the fair band, {side}: "
            + (", ".join(found) if found else "none")
        )
    if r.get("labelled"):
        lines += ["", *render_labelled(r["labelled"], metric)]
    return "\n".join(lines) + "\n"


def render_labelled(section: dict, metric: str) -> list[str]:
    """The recent labelled capture's section of the report."""
    m = section["metrics"]
    lines = [
        "## Recent labelled capture (reported, not gated)",
        "",
        f"{section['count']} labelled records of `{section['path']}`.",
    ]
    if section["challenger_trained_on_it"]:
        lines += [
            "",
            "The challenger was trained on these rows (make challenger LABELLED=): "
            "its figures here are optimistic; judge it on a later capture.",
        ]
    lines += ["", "| metric | champion | challenger |", "|---|---|---|"]
    return lines + [
        f"| {'**' + k + '**' if k == metric else k} | {a:.4f} | "
        f"{m['challenger'][k]:.4f} |"
        for k, a in m["champion"].items()
    ]


def write_report(r: dict, out: Path) -> Path:
    """report.md, compare.json and figures/slices.png under `out`, each atomically."""
    slices_png(r, out / "figures" / "slices.png")
    write_json_atomic(out / "compare.json", r)
    return write_text_atomic(out / "report.md", render(r))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--champion", type=Path, default=Paths().model_dir)
    parser.add_argument(
        "--challenger", type=Path, default=Paths(root=CHALLENGER).model_dir
    )
    parser.add_argument(
        "--rows",
        type=Path,
        help="held-out rows (default: the challenger's test split)",
    )
    parser.add_argument(
        "--labelled",
        type=Path,
        help="recent labelled capture (make monitor's labelled.csv): reported, not gated",
    )
    parser.add_argument("--params", type=Path, default=PARAMS_FILE)
    parser.add_argument("--out", type=Path, default=COMPARE)
    args = parser.parse_args(argv)
    rows = args.rows or Paths(root=args.challenger.parent).test_csv
    if not rows.is_file():
        raise ConfigError(f"{rows}: no held-out rows (run make challenger first)")
    if args.labelled and not args.labelled.is_file():
        raise ConfigError(f"LABELLED={args.labelled}: no such file")
    params = load(args.params)
    r = compare(args.champion, args.challenger, rows, params)
    if args.labelled:
        r["labelled"] = labelled_capture(
            args.champion, args.challenger, args.labelled, params
        )
    report = write_report(r, args.out)
    print(f"compare: {report}")
    for c in r["checks"]:
        if not c["passed"]:
            print(f"refused: {c['line']}", file=sys.stderr)
    return 0 if r["passed"] else 1


if __name__ == "__main__":
    from training.stage import run_stage

    sys.exit(run_stage("compare", main))

"""The training parameters, typed: params.yaml read once and checked as it is read.

`load()` gives a frozen `Params` whose sections every stage reads as attributes; a wrong
type, a missing key, an unknown key (a typo such as `evalute:` is refused, not ignored)
or a reference to nothing stops the run in one line naming the key. The file format is
unchanged (DVC tracks the keys, dvc.yaml `params:`), and each default is set here only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundle.format import BINARY, MULTICLASS, REGRESSION
from bundle.profile import BAND_SUFFIX, band_column
from training.config import PARAMS_FILE, ConfigError, FeatureSpec, load_params
from training.datasets import BUILT_IN

SECTIONS = (
    "project",
    "data",
    "features",
    "train",
    "evaluate",
    "model_card",
    "promote",
)
PROJECT_KEYS = ("name", "description", "class_names")
CLASS_NAME_KEYS = ("positive", "negative")
FEATURE_KEYS = (
    "target",
    "task",
    "positive_label",
    "numeric",
    "categorical",
    "rare_category",
    "unseen",
)
RARE_KEYS = ("min_count",)
BOUND_KEYS = ("type", "min", "max", "missing", "fill", "indicator")
# The built-in loaders' keys; a loader module of your own reads keys of its own.
DATA_KEYS = (
    "loader",
    "source",
    "delimiter",
    "quotechar",
    "wheel",
    "files",
    "test_size",
    "seed",
    "missing",
    "deduplicate",
    "max_dropped_share",
)
DATA_DEFAULTS = {
    "test_size": 0.25,
    "seed": 42,
    "delimiter": ",",
    "quotechar": '"',
    "deduplicate": True,
    "max_dropped_share": 0.2,
}
# data.delimiter: one character, or "auto" to let the csv loader detect it.
AUTO_DELIMITER = "auto"
FILE_KEYS = ("member", "sha256")
TRAIN_KEYS = ("seed", "cv_folds", "selection_metric", "candidates", "parity_tolerance")
CANDIDATE_KEYS = ("estimator", "params")
EVALUATE_KEYS = ("threshold", "targets", "slices", "bias")
# evaluate.threshold: a fixed number, or a rule the fit stage applies to the selected
# candidate's out-of-fold predictions (training/threshold.py).
THRESHOLD_KEYS = ("rule", "at_least")
THRESHOLD_RULES = ("max_f1", "precision", "recall")
# The rules that keep a metric at or above `at_least`.
FLOOR_RULES = ("precision", "recall")
SLICE_KEYS = ("min_support", "min_positives", "f1_margin", "bands")
BIAS_KEYS = ("attributes", "reference", "fair_band")
# The test metrics of each task (training/metrics.py) `evaluate.targets` may name: a
# floor for each, but a ceiling for the LOWER_IS_BETTER ones (errors and losses).
TARGET_METRICS = {
    BINARY: ("precision", "recall", "f1", "accuracy", "roc_auc", "brier"),
    MULTICLASS: ("log_loss", "f1_macro", "balanced_accuracy", "accuracy"),
    REGRESSION: ("rmse", "mae", "r2"),
}
LOWER_IS_BETTER = ("brier", "log_loss", "rmse", "mae")
CARD_KEYS = ("intended_use", "out_of_scope", "caveats", "sensitive_features")
PROMOTE_KEYS = ("tolerance", "slice_margin", "latency_ratio", "fair_band_or_no_worse")
INF = float("inf")
YAML_BOOLEANS = "YAML reads unquoted yes/no/on/off/true/false as a boolean"


def quote_hint(text: str = "yes") -> str:
    """What to do when YAML made a text a boolean."""
    return f'{YAML_BOOLEANS}: write "{text}" in quotes'


def misread(value: Any) -> bool:
    """Whether YAML turned a text into a boolean here (a value, a list item or a key)."""
    if isinstance(value, bool):
        return True
    if isinstance(value, (list, tuple)):
        return any(isinstance(v, bool) for v in value)
    if isinstance(value, dict):
        return misread(list(value)) or misread(list(value.values()))
    return False


class Reader:
    """Typed reads from the raw mapping; each error names the file and the dotted key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, need: str, value: Any) -> ConfigError:
        """`key` must be `need`; where a text belongs, a YAML boolean gets the fix."""
        hint = f"; {quote_hint()}" if "text" in need and misread(value) else ""
        return ConfigError(f"{self.source}: {key} must be {need}, not {value!r}{hint}")

    def section(
        self, key: str, value: Any, known: tuple[str, ...], required: tuple = ()
    ) -> dict:
        """A mapping with only `known` keys and every `required` one."""
        if not isinstance(value, dict):
            raise self.fail(key, "a mapping", value)
        unknown = [k for k in value if k not in known]
        if unknown:
            raise ConfigError(
                f"{self.source}: unknown key {key}.{unknown[0]}; "
                f"known: {', '.join(known)}"
            )
        for name in required:
            if name not in value:
                raise ConfigError(f"{self.source}: {key}.{name} is not set")
        return value

    def mapping(self, key: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise self.fail(key, "a mapping", value)
        return value

    def whole(self, key: str, value: Any, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"a whole number >= {minimum}", value)
        return value

    def number(self, key: str, value: Any, low: float, high: float) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not low <= value <= high:
            raise self.fail(key, f"a number from {low:g} to {high:g}", value)
        return value

    def flag(self, key: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "true or false", value)
        return value

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "a text", value)
        return value

    def name(self, key: str, value: Any) -> str:
        """A column, group or class name: a text (a number is read as its text)."""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(key, "a text", value)
        return str(value)

    def names(self, key: str, value: Any) -> dict:
        """A mapping whose keys are column names."""
        for name in self.mapping(key, value):
            self.name(f"a key of {key}", name)
        return value

    def texts(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "a list of texts", value)
        return tuple(value)

    def delimiter(self, value: Any) -> str:
        """`data.delimiter`: one character (",", ";", a tab) or "auto"."""
        ok = isinstance(value, str) and (len(value) == 1 or value == AUTO_DELIMITER)
        if not ok or value in '"\r\n':
            raise self.fail(
                "data.delimiter",
                f'one character such as ";" or {AUTO_DELIMITER!r}',
                value,
            )
        return value

    def quotechar(self, value: Any, delimiter: str) -> str:
        """`data.quotechar`: the one character that wraps a cell holding the delimiter."""
        ok = isinstance(value, str) and len(value) == 1
        if not ok or value in "\r\n" or value == delimiter:
            raise self.fail(
                "data.quotechar",
                "one character other than the delimiter, such as \" or '",
                value,
            )
        return value

    def edges(self, key: str, value: Any) -> tuple[float, ...]:
        nums = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        )
        if not nums or len(value) < 2 or any(b <= a for a, b in zip(value, value[1:])):
            raise self.fail(key, "a list of >= 2 increasing numbers", value)
        return tuple(value)


@dataclass(frozen=True)
class DataParams:
    """`data:`: which loader, and the section as the loader reads it (defaults filled)."""

    loader: str
    options: dict[str, Any]

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "DataParams":
        raw = r.mapping("data", raw)
        loader = raw.get("loader") or ("csv" if raw.get("source") else None)
        if loader is None:
            raise ConfigError(
                f"{r.source}: data.loader is not set (uci_adult, csv or a module path)"
            )
        loader = r.text("data.loader", loader)
        if loader in BUILT_IN:
            r.section("data", raw, DATA_KEYS)
        for key in ("source", "wheel"):
            if key in raw:
                r.text(f"data.{key}", raw[key])
        if "delimiter" in raw:
            r.delimiter(raw["delimiter"])
        if "quotechar" in raw:
            r.quotechar(raw["quotechar"], raw.get("delimiter", ","))
        for name, entry in r.mapping("data.files", raw.get("files", {})).items():
            entry = r.section(f"data.files.{name}", entry, FILE_KEYS, FILE_KEYS)
            for key in FILE_KEYS:
                r.text(f"data.files.{name}.{key}", entry[key])
        options = dict(raw)
        for key, default in DATA_DEFAULTS.items():
            options.setdefault(key, default)
        r.number("data.test_size", options["test_size"], 0, 1)
        r.whole("data.seed", options["seed"])
        r.flag("data.deduplicate", options["deduplicate"])
        r.number("data.max_dropped_share", options["max_dropped_share"], 0, 1)
        if "missing" in raw:
            r.texts("data.missing", raw["missing"])
        return cls(loader, options)


@dataclass(frozen=True)
class Candidate:
    """One model the fit stage cross-validates: an estimator kind and its arguments."""

    estimator: str
    params: dict[str, Any]


@dataclass(frozen=True)
class TrainParams:
    """`train:`: the candidates, how they are compared, and the export's parity gate."""

    seed: int
    cv_folds: int
    selection_metric: str
    candidates: dict[str, Candidate]
    parity_tolerance: float

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "TrainParams":
        t = r.section("train", raw, TRAIN_KEYS, TRAIN_KEYS)
        candidates = r.mapping("train.candidates", t["candidates"])
        if not candidates:
            raise r.fail("train.candidates", "at least one candidate", candidates)
        typed = {}
        for name, c in candidates.items():
            key = f"train.candidates.{name}"
            c = r.section(key, c, CANDIDATE_KEYS, ("estimator",))
            typed[str(name)] = Candidate(
                r.text(f"{key}.estimator", c["estimator"]),
                dict(r.mapping(f"{key}.params", c.get("params", {}))),
            )
        return cls(
            seed=r.whole("train.seed", t["seed"]),
            cv_folds=r.whole("train.cv_folds", t["cv_folds"], 2),
            selection_metric=r.text("train.selection_metric", t["selection_metric"]),
            candidates=typed,
            parity_tolerance=r.number(
                "train.parity_tolerance", t["parity_tolerance"], 0, INF
            ),
        )


@dataclass(frozen=True)
class SliceParams:
    """`evaluate.slices:`: when a slice is judged, flagged, and the numeric bands."""

    min_support: int
    f1_margin: float
    min_positives: int
    bands: dict[str, tuple[float, ...]]

    @property
    def band_columns(self) -> list[str]:
        """The banded columns' names, in the order of `bands`."""
        return [band_column(col) for col in self.bands]

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "SliceParams":
        s = r.section("evaluate.slices", raw, SLICE_KEYS, ("min_support", "f1_margin"))
        bands = r.names("evaluate.slices.bands", s.get("bands", {}))
        return cls(
            min_support=r.whole("evaluate.slices.min_support", s["min_support"]),
            f1_margin=r.number("evaluate.slices.f1_margin", s["f1_margin"], 0, 1),
            min_positives=r.whole(
                "evaluate.slices.min_positives", s.get("min_positives", 0)
            ),
            bands={
                str(col): r.edges(f"evaluate.slices.bands.{col}", edges)
                for col, edges in bands.items()
            },
        )


@dataclass(frozen=True)
class BiasParams:
    """`evaluate.bias:`: the audited attributes, reference groups and the fair band."""

    attributes: tuple[str, ...]
    fair_band: tuple[float, float]
    reference: dict[str, Any]

    @classmethod
    def read(cls, r: Reader, raw: Any, slices: SliceParams) -> "BiasParams":
        b = r.section("evaluate.bias", raw, BIAS_KEYS, ("attributes", "fair_band"))
        attributes = r.texts("evaluate.bias.attributes", b["attributes"])
        for attr in attributes:
            if attr.endswith(BAND_SUFFIX) and attr not in slices.band_columns:
                raise ConfigError(
                    f"{r.source}: evaluate.bias.attributes: {attr!r} is a band, but "
                    f"evaluate.slices.bands has no {attr[: -len(BAND_SUFFIX)]!r}"
                )
        reference = r.names("evaluate.bias.reference", b.get("reference") or {})
        for attr in reference:
            if attr not in attributes:
                raise ConfigError(
                    f"{r.source}: evaluate.bias.reference: {attr!r} is not one of "
                    f"evaluate.bias.attributes ({', '.join(attributes)})"
                )
        band = b["fair_band"]
        if not isinstance(band, list) or len(band) != 2:
            raise r.fail("evaluate.bias.fair_band", "[low, high]", band)
        low = r.number("evaluate.bias.fair_band", band[0], 0, INF)
        high = r.number("evaluate.bias.fair_band", band[1], low, INF)
        return cls(attributes, (low, high), dict(reference))


@dataclass(frozen=True)
class ThresholdRule:
    """`evaluate.threshold: {rule: ...}`: how the fit stage chooses the threshold."""

    rule: str
    at_least: float | None = None

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "float | ThresholdRule":
        """A fixed threshold (a number), or the rule the mapping declares."""
        if not isinstance(raw, dict):
            need = "a number from 0 to 1 or a rule such as {rule: max_f1}"
            ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
            if not ok or not 0 <= raw <= 1:
                raise r.fail("evaluate.threshold", need, raw)
            return float(raw)
        t = r.section("evaluate.threshold", raw, THRESHOLD_KEYS, ("rule",))
        rule = t["rule"]
        if rule not in THRESHOLD_RULES:
            raise r.fail(
                "evaluate.threshold.rule", f"one of {', '.join(THRESHOLD_RULES)}", rule
            )
        if rule in FLOOR_RULES and "at_least" not in t:
            raise ConfigError(
                f"{r.source}: evaluate.threshold.at_least is not set (rule {rule} "
                f"keeps {rule} at or above it, e.g. at_least: 0.8)"
            )
        if rule not in FLOOR_RULES and "at_least" in t:
            raise ConfigError(
                f"{r.source}: evaluate.threshold.at_least applies to rule "
                f"{' or '.join(FLOOR_RULES)}, not {rule}"
            )
        floor = t.get("at_least")
        if floor is not None:
            floor = r.number("evaluate.threshold.at_least", floor, 0, 1)
        return cls(rule, floor)


@dataclass(frozen=True)
class EvaluateParams:
    """`evaluate:`: the decision threshold, quality targets, slices and bias audit."""

    # Fixed (a number) or chosen by the fit stage (a rule); the bundle holds the value.
    threshold: float | ThresholdRule
    slices: SliceParams
    bias: BiasParams
    targets: dict[str, float]

    def missed(self, metrics: dict[str, float]) -> list[str]:
        """The quality targets `metrics` miss, one phrase each ("rmse 3.2 > 3.0")."""
        out = []
        for name, target in self.targets.items():
            value, lower = metrics[name], name in LOWER_IS_BETTER
            if value > target if lower else value < target:
                out.append(f"{name} {value:.4f} {'>' if lower else '<'} {target}")
        return out

    @property
    def named_columns(self) -> list[str]:
        """The data columns the slices and the audit name (bands' sources included)."""
        return list(self.slices.bands) + [
            a for a in self.bias.attributes if not a.endswith(BAND_SUFFIX)
        ]

    @classmethod
    def read(cls, r: Reader, raw: Any, task: str = BINARY) -> "EvaluateParams":
        e = r.section("evaluate", raw, EVALUATE_KEYS, ("threshold", "slices", "bias"))
        slices = SliceParams.read(r, e["slices"])
        targets = r.mapping("evaluate.targets", e.get("targets") or {})
        known = TARGET_METRICS[task]
        for name in targets:
            if name not in known:
                raise ConfigError(
                    f"{r.source}: evaluate.targets.{name} is not a test metric of a "
                    f"{task} model; known: {', '.join(known)}"
                )
        return cls(
            threshold=ThresholdRule.read(r, e["threshold"]),
            slices=slices,
            bias=BiasParams.read(r, e["bias"], slices),
            targets={
                str(k): r.number(f"evaluate.targets.{k}", v, -INF, INF)
                for k, v in targets.items()
            },
        )


@dataclass(frozen=True)
class ModelCardParams:
    """`model_card:`: the words of the card's use and caveats sections."""

    intended_use: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    caveats: tuple[str, ...] = ()
    sensitive_features: tuple[str, ...] = ()

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "ModelCardParams":
        c = r.section("model_card", raw or {}, CARD_KEYS)
        return cls(
            **{k: r.texts(f"model_card.{k}", c[k] or []) for k in CARD_KEYS if k in c}
        )


@dataclass(frozen=True)
class PromoteParams:
    """`promote:`: the gate a challenger must pass to replace the model (make compare)."""

    # How much worse than the champion on train.selection_metric a challenger may be.
    tolerance: float = 0.005
    # How much worse on a slice both can measure: F1 (binary), macro F1 (multiclass)
    # down by more than this, or RMSE (regression) up by more than this share of it.
    slice_margin: float = 0.05
    # The challenger's median per-record latency over the champion's, at most.
    latency_ratio: float = 1.5
    # true: disparities outside evaluate.bias.fair_band pass when the champion has as
    # many; false: the challenger must have none.
    fair_band_or_no_worse: bool = True

    @classmethod
    def read(cls, r: Reader, raw: Any) -> "PromoteParams":
        p = r.section("promote", raw or {}, PROMOTE_KEYS)
        default = cls()
        return cls(
            tolerance=r.number(
                "promote.tolerance", p.get("tolerance", default.tolerance), 0, INF
            ),
            slice_margin=r.number(
                "promote.slice_margin",
                p.get("slice_margin", default.slice_margin),
                0,
                INF,
            ),
            latency_ratio=r.number(
                "promote.latency_ratio",
                p.get("latency_ratio", default.latency_ratio),
                1,
                INF,
            ),
            fair_band_or_no_worse=r.flag(
                "promote.fair_band_or_no_worse",
                p.get("fair_band_or_no_worse", default.fair_band_or_no_worse),
            ),
        )


def read_features(r: Reader, raw: dict) -> FeatureSpec:
    """`project:` and `features:`, their keys checked before FeatureSpec's own checks."""
    project = r.section("project", raw.get("project") or {}, PROJECT_KEYS)
    for key in ("name", "description"):
        if project.get(key) is not None:
            r.name(f"project.{key}", project[key])
    names = project.get("class_names") or {}
    r.section("project.class_names", names, CLASS_NAME_KEYS)
    for key, value in names.items():
        if value is not None:
            r.name(f"project.class_names.{key}", value)
    if "features" in raw:
        f = r.section("features", raw["features"], FEATURE_KEYS)
        if "target" in f:
            r.name("features.target", f["target"])
        numeric = r.names("features.numeric", f.get("numeric") or {})
        for col, bounds in numeric.items():
            if isinstance(bounds, dict):
                r.section(f"features.numeric.{col}", bounds, BOUND_KEYS)
        r.texts("features.categorical", f.get("categorical") or [])
        if "rare_category" in f:
            rare = r.section("features.rare_category", f["rare_category"], RARE_KEYS)
            if "min_count" in rare:
                r.whole("features.rare_category.min_count", rare["min_count"], 1)
        for col, policy in r.names("features.unseen", f.get("unseen") or {}).items():
            r.text(f"features.unseen.{col}", policy)
    return FeatureSpec.from_params(raw)


@dataclass(frozen=True)
class Params:
    """params.yaml, typed and checked: what every training stage reads."""

    features: FeatureSpec
    data: DataParams
    train: TrainParams
    evaluate: EvaluateParams
    model_card: ModelCardParams
    promote: PromoteParams
    # The mapping as read, data defaults filled: a data set loader's `load` reads it.
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "params.yaml") -> "Params":
        """The typed params, or ConfigError naming the first problem found."""
        r = Reader(source)
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: expected a mapping of sections")
        unknown = [k for k in raw if k not in SECTIONS]
        if unknown:
            raise ConfigError(
                f"{source}: unknown section {unknown[0]!r}; known: {', '.join(SECTIONS)}"
            )
        features = read_features(r, raw)
        for name in ("data", "train", "evaluate"):
            if name not in raw:
                raise ConfigError(f"{source}: no `{name}:` section")
        data = DataParams.read(r, raw["data"])
        return cls(
            features=features,
            data=data,
            train=TrainParams.read(r, raw["train"]),
            evaluate=EvaluateParams.read(r, raw["evaluate"], features.task),
            model_card=ModelCardParams.read(r, raw.get("model_card")),
            promote=PromoteParams.read(r, raw.get("promote")),
            raw={**raw, "data": data.options},
        )


def load(path: Path | str | None = None) -> Params:
    """Read and check params.yaml (or the file at `path`)."""
    path = Path(path or PARAMS_FILE)
    return Params.from_dict(load_params(path), path.name)

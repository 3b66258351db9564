"""The model bundle's format, defined once: its files, its metadata and their version.

A bundle is a folder: `metadata.json` plus the files it lists by role, each with its
SHA-256. Training writes it (`training/publish.py`), the service and the batch scorer read
it (`bundle/store.py`); both go through the types here, so a key is spelled in one place.

The task (`Target.task`) says what the graphs output and what a prediction is:
- binary: the positive class's probability; the label by `threshold` (positive/negative
  and their display names). Metadata written before tasks existed has no `task`: binary.
- multiclass: one probability per class, in the order of `classes` (the target's values
  as the data writes them) and `class_names` (their display names); the label is the
  most probable class. No threshold.
- regression: the predicted value. No classes, no threshold.
Binary metadata gains only `task`; the other tasks write `classes`/`class_names` and
publish `Examples.records` (one per class, or a low, median and high target) instead of
a positive and a negative example.

Format 3 added what changes a prediction beyond the graphs: a feature's rare categories
(`grouped`), what an unseen category gets (`unseen`), a filled missing value (`imputed`),
the missing-cell texts, and the task's classes. Code that reads format 2 would ignore
those keys and score such records differently, so it refuses a format 3 bundle; this
code reads both (a format 2 bundle, say one restored by `make rollback`, has none of
them, and their defaults are what it meant).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

from bundle.rules import DEFAULT_MISSING, FeatureRule

FORMAT_VERSION = 3
# The formats this code reads: the one it writes, and the ones whose keys it defaults.
READABLE_FORMATS = (2, FORMAT_VERSION)
METADATA_FILE = "metadata.json"
# A target value as the data has it: the positive label may be an int, a bool or a string.
Scalar = Union[str, int, float, bool]
BINARY, MULTICLASS, REGRESSION = "binary", "multiclass", "regression"
TASKS = (BINARY, MULTICLASS, REGRESSION)
# The target keys metadata.json holds for each task (Target.to_json).
TARGET_KEYS = {
    BINARY: ("column", "positive", "negative", "positive_name", "negative_name")
    + ("threshold", "task"),
    MULTICLASS: ("column", "task", "classes", "class_names"),
    REGRESSION: ("column", "task"),
}


class BundleError(RuntimeError):
    """The model bundle is missing, damaged, tampered with or unusable."""


@dataclass(frozen=True)
class Role:
    """A file of the bundle: the role it plays and its fixed name in the folder."""

    key: str
    file: str
    description: str


# Every file a bundle may hold. The classifier graph and its encoding are optional: a
# bundle without them is scored with the whole-pipeline graph.
PIPELINE_GRAPH = Role(
    "pipeline_graph", "model.onnx", "the fitted Pipeline (preprocessing + classifier)"
)
CLASSIFIER_GRAPH = Role(
    "classifier_graph", "classifier.onnx", "the classifier alone, over the encoding"
)
FITTED_PIPELINE = Role(
    "fitted_pipeline", "pipeline.skops", "the scikit-learn Pipeline (skops, no pickle)"
)
# The training data's profile that live traffic is compared with (bundle/profile.py).
REFERENCE_PROFILE = Role(
    "reference_profile", "reference.json", "the training reference for drift monitoring"
)
ROLES = {
    r.key: r
    for r in (PIPELINE_GRAPH, CLASSIFIER_GRAPH, FITTED_PIPELINE, REFERENCE_PROFILE)
}
REQUIRED_ROLES = (PIPELINE_GRAPH.key, FITTED_PIPELINE.key)


@dataclass(frozen=True)
class FileEntry:
    """One file of the bundle and the SHA-256 it must hash to."""

    file: str
    sha256: str


@dataclass(frozen=True)
class Project:
    """What the model is about, for people: shown by the API, the card and the logs."""

    name: str
    description: str

    @property
    def slug(self) -> str:
        """The name as an identifier (metric names): letters, digits, underscores."""
        out = "".join(c if c.isalnum() else "_" for c in self.name.lower()).strip("_")
        return out if out and not out[0].isdigit() else f"model_{out}"


@dataclass(frozen=True)
class Target:
    """The predicted column and the task: binary (its two values in the data, their
    display names and the threshold), multiclass (`classes` in the order of the model's
    probability columns, with display names) or regression (neither)."""

    column: str
    positive: Scalar | None = None
    negative: Scalar | None = None
    positive_name: str = ""
    negative_name: str = ""
    threshold: float = 0.5
    task: str = BINARY
    classes: tuple[Scalar, ...] = ()
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"target.task {self.task!r} is not one of {TASKS}")
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "class_names", tuple(self.class_names))
        if len(self.class_names) != len(self.classes):
            raise ValueError("target.class_names and target.classes differ in length")
        if self.task == MULTICLASS and len(self.classes) < 3:
            raise ValueError("a multiclass target needs at least 3 classes")
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"target.class_names repeat a name: {self.class_names}")

    @property
    def labels(self) -> list[str]:
        """The display names the model answers with, in probability column order."""
        if self.task == BINARY:
            return [self.negative_name, self.positive_name]
        return list(self.class_names)

    def to_json(self) -> dict[str, Any]:
        """The keys of the target's task only: binary metadata gains only `task`."""
        return {k: getattr(self, k) for k in TARGET_KEYS[self.task]}


@dataclass(frozen=True)
class Example:
    """A record the model scores, with what it scored at training time: the positive
    class's probability (binary), the predicted class's (multiclass), or the value
    (regression, whose `prediction` names the example: low, median or high)."""

    record: dict[str, Any]
    probability: float | None
    prediction: str
    value: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Examples:
    """One confident record of each class (binary: positive and negative; else
    `records`), or a low, median and high target, and one broken record (what it breaks).

    A binary class the model predicts for no test record (a high threshold on imbalanced
    data) has no example (None); at least one example is there."""

    positive: Example | None
    negative: Example | None
    invalid_record: dict[str, Any]
    invalid_field: str
    records: tuple[Example, ...] = ()

    def __post_init__(self) -> None:
        if not self.scored():
            raise ValueError("examples: there is none")

    def scored(self) -> tuple[Example, ...]:
        """The examples there are: binary positive first, else the task's records."""
        if self.records:
            return tuple(self.records)
        return tuple(e for e in (self.positive, self.negative) if e is not None)

    def lacking(self, target: "Target") -> list[str]:
        """The display names of the classes without an example."""
        if target.task == REGRESSION:
            return []
        if target.task == MULTICLASS:
            shown = {e.prediction for e in self.records}
            return [name for name in target.class_names if name not in shown]
        pairs = (
            (self.positive, target.positive_name),
            (self.negative, target.negative_name),
        )
        return [name for example, name in pairs if example is None]

    @property
    def record(self) -> dict[str, Any]:
        """A valid record to show (the docs' request body): the first scored example's."""
        return self.scored()[0].record

    def to_json(self) -> dict[str, Any]:
        invalid = {"record": self.invalid_record, "field": self.invalid_field}
        if self.records:
            return {"records": [e.to_json() for e in self.records], "invalid": invalid}
        return {
            "positive": example_json(self.positive),
            "negative": example_json(self.negative),
            "invalid": invalid,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Examples":
        return cls(
            positive=example_of(data.get("positive")),
            negative=example_of(data.get("negative")),
            invalid_record=data["invalid"]["record"],
            invalid_field=data["invalid"]["field"],
            records=tuple(
                Example(**{"probability": None, **e}) for e in data.get("records", ())
            ),
        )


@dataclass(frozen=True)
class Metadata:
    """Everything `metadata.json` says, typed."""

    project: Project
    version: str
    target: Target
    features: tuple[FeatureRule, ...]
    files: dict[str, FileEntry]
    examples: Examples
    # The fitted one-hot encoding the classifier graph takes (bundle/encoding.py).
    encoding: dict[str, Any] | None = None
    # Informational: estimator and params, test metrics, ONNX parity, provenance.
    model: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    # The cell texts the training set read as missing; scoring reads CSV cells with them.
    missing: tuple[str, ...] = DEFAULT_MISSING

    def __post_init__(self) -> None:
        markers = tuple(self.missing)
        object.__setattr__(self, "missing", markers)
        object.__setattr__(
            self,
            "features",
            tuple(dataclasses.replace(f, missing=markers) for f in self.features),
        )

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def candidate(self) -> str:
        """The training candidate: as recorded, else the version's part before its hash."""
        return self.model.get("candidate") or self.version.rsplit("-", 1)[0]

    def entry(self, role: Role) -> FileEntry | None:
        return self.files.get(role.key)

    def to_json(self) -> dict[str, Any]:
        """The JSON object written as metadata.json."""
        return {
            "format": self.format,
            "project": vars(self.project),
            "version": self.version,
            "target": self.target.to_json(),
            "features": [f.to_json() for f in self.features],
            "files": {k: vars(v) for k, v in sorted(self.files.items())},
            "examples": self.examples.to_json(),
            "encoding": self.encoding,
            "model": self.model,
            "metrics": self.metrics,
            "parity": self.parity,
            "provenance": self.provenance,
            "missing": list(self.missing),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Metadata":
        """Typed metadata; KeyError/TypeError/ValueError name what is wrong."""
        files = {k: FileEntry(**v) for k, v in data["files"].items()}
        unknown = set(files) - set(ROLES)
        if unknown:
            raise ValueError(f"unknown file roles {sorted(unknown)}")
        missing = [r for r in REQUIRED_ROLES if r not in files]
        if missing:
            raise KeyError(f"files.{missing[0]}")
        return cls(
            project=Project(**data["project"]),
            version=data["version"],
            target=Target(**data["target"]),
            features=tuple(FeatureRule.from_json(f) for f in data["features"]),
            files=files,
            examples=Examples.from_json(data["examples"]),
            encoding=data.get("encoding"),
            model=data.get("model", {}),
            metrics=data.get("metrics", {}),
            parity=data.get("parity", {}),
            provenance=data.get("provenance", {}),
            format=data["format"],
            missing=missing_texts(data.get("missing", DEFAULT_MISSING)),
        )


def example_json(example: Example | None) -> dict[str, Any] | None:
    """An example as metadata.json writes it (null for a class without one)."""
    return None if example is None else example.to_json()


def example_of(value: dict[str, Any] | None) -> Example | None:
    """An example as metadata.json holds it (null for a class without one)."""
    return None if value is None else Example(**value)


def missing_texts(value: Any) -> tuple[str, ...]:
    """The stored missing markers, checked: a list of texts."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(m, str) for m in value
    ):
        raise ValueError(f"missing must be a list of texts, not {value!r}")
    return tuple(value)


def model_version(candidate: str, files: Mapping[str, FileEntry]) -> str:
    """`<candidate>-<12 hex>`, the hex from the SHA-256 of every file the bundle lists:
    whichever file changes (the graph that scores, say), the version changes."""
    listed = "".join(f"{role} {files[role].sha256}\n" for role in sorted(files))
    return f"{candidate}-{hashlib.sha256(listed.encode()).hexdigest()[:12]}"


def read_metadata(model_dir: Path) -> Metadata:
    """Parse and type metadata.json, naming the file in every error."""
    path = Path(model_dir) / METADATA_FILE
    if not path.is_file():
        raise BundleError(f"no model at {model_dir}: {METADATA_FILE} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    found = data.get("format") if isinstance(data, dict) else None
    if found not in READABLE_FORMATS:
        readable = " or ".join(str(v) for v in READABLE_FORMATS)
        raise BundleError(
            f"{path}: bundle format {found!r}, this code reads {readable} "
            "(retrain with `make train` to write the current format)"
        )
    try:
        return Metadata.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path} is incomplete or invalid: {exc!r}") from exc


def metadata_text(meta: Metadata) -> str:
    """metadata.json's exact text: sorted keys, so equal metadata is equal bytes."""
    return json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n"

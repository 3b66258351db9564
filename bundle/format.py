"""The model bundle's format, defined once: its files, its metadata and their version.

A bundle is a folder: `metadata.json` plus the files it lists by role, each with its
SHA-256. Training writes it (`training/publish.py`), the service and the batch scorer read
it (`bundle/store.py`); both go through the types here, so a key is spelled in one place.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Union

from bundle.rules import DEFAULT_MISSING, FeatureRule

FORMAT_VERSION = 2
METADATA_FILE = "metadata.json"
# A target value as the data has it: the positive label may be an int, a bool or a string.
Scalar = Union[str, int, float, bool]


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
    """The predicted column: its two values in the data and their display names."""

    column: str
    positive: Scalar
    negative: Scalar
    positive_name: str
    negative_name: str
    threshold: float = 0.5


@dataclass(frozen=True)
class Example:
    """A record the model scores, with the probability recorded at training time."""

    record: dict[str, Any]
    probability: float
    prediction: str


@dataclass(frozen=True)
class Examples:
    """One confident record of each class and one broken record (what it breaks).

    A class the model predicts for no test record (a high threshold on imbalanced data)
    has no example (None); at least one of the two is there."""

    positive: Example | None
    negative: Example | None
    invalid_record: dict[str, Any]
    invalid_field: str

    def __post_init__(self) -> None:
        if self.positive is None and self.negative is None:
            raise ValueError("examples: neither class has an example")

    def scored(self) -> tuple[Example, ...]:
        """The examples there are: positive first."""
        return tuple(e for e in (self.positive, self.negative) if e is not None)

    def lacking(self, target: "Target") -> list[str]:
        """The display names of the classes without an example."""
        pairs = (
            (self.positive, target.positive_name),
            (self.negative, target.negative_name),
        )
        return [name for example, name in pairs if example is None]

    @property
    def record(self) -> dict[str, Any]:
        """A valid record to show (the docs' request body): the first scored example's."""
        return self.scored()[0].record


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
            "target": vars(self.target),
            "features": [f.to_json() for f in self.features],
            "files": {k: vars(v) for k, v in sorted(self.files.items())},
            "examples": {
                "positive": example_json(self.examples.positive),
                "negative": example_json(self.examples.negative),
                "invalid": {
                    "record": self.examples.invalid_record,
                    "field": self.examples.invalid_field,
                },
            },
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
        examples = data["examples"]
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
            examples=Examples(
                positive=example_of(examples["positive"]),
                negative=example_of(examples["negative"]),
                invalid_record=examples["invalid"]["record"],
                invalid_field=examples["invalid"]["field"],
            ),
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
    return None if example is None else vars(example)


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
    if found != FORMAT_VERSION:
        raise BundleError(
            f"{path}: bundle format {found!r}, this code reads {FORMAT_VERSION} "
            "(retrain with `make train` to write the current format)"
        )
    try:
        return Metadata.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path} is incomplete or invalid: {exc!r}") from exc


def metadata_text(meta: Metadata) -> str:
    """metadata.json's exact text: sorted keys, so equal metadata is equal bytes."""
    return json.dumps(meta.to_json(), indent=2, sort_keys=True) + "\n"

"""Read, verify and write a model bundle.

Loading checks every file the metadata lists against its SHA-256 before anything is
parsed, builds the one engine that will score (the classifier graph when the bundle has
it, else the whole-pipeline graph), and makes the loaded model re-score the recorded
examples: nothing is served that was not verified. ONNX is data, not code: loading it runs
nothing it did not ship.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from bundle.engines import EncodedClassifier, Engine, PipelineGraph, make_session
from bundle.files import sha256_bytes, write_bytes_atomic, write_text_atomic
from bundle.format import (
    CLASSIFIER_GRAPH,
    METADATA_FILE,
    PIPELINE_GRAPH,
    ROLES,
    BundleError,
    FileEntry,
    Metadata,
    Role,
    metadata_text,
    model_version,
    read_metadata,
)
from bundle.predictor import Predictor, predictor_for
from bundle.rules import FeatureRule

# float32 inference on another onnxruntime build may differ in the last bits, not more.
SELF_CHECK_TOLERANCE = 1e-5


@dataclass(frozen=True)
class LoadedBundle:
    """A verified model: its predictor and what the bundle says about it."""

    predictor: Predictor
    metadata: Metadata
    path: Path

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def sha256(self) -> str:
        """SHA-256 of the graph that scores."""
        return self.metadata.files[self.predictor.graph].sha256

    @property
    def features(self) -> tuple[FeatureRule, ...]:
        return self.metadata.features


def verified_bytes(model_dir: Path, entry: FileEntry) -> bytes:
    """The bytes of one bundle file, only if they hash to its recorded SHA-256."""
    path = model_dir / entry.file
    if not path.is_file():
        raise BundleError(f"model file {path} not found")
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != entry.sha256:
        raise BundleError(
            f"model file {path} failed its integrity check: SHA-256 {actual} "
            f"!= recorded {entry.sha256} (truncated, replaced or tampered)"
        )
    return data


def verify_files(model_dir: Path, meta: Metadata) -> dict[str, bytes]:
    """Every listed file's bytes, each checked against its hash (role -> bytes)."""
    return {
        role: verified_bytes(model_dir, e) for role, e in sorted(meta.files.items())
    }


def build_engine(model_dir: Path, meta: Metadata, blobs: dict[str, bytes]) -> Engine:
    """The one engine that scores: the classifier graph if present, else the pipeline;
    either gives the scores of the target's task."""
    task = meta.target.task
    if CLASSIFIER_GRAPH.key in blobs:
        if meta.encoding is None:
            raise BundleError(
                f"{model_dir / METADATA_FILE} lists {CLASSIFIER_GRAPH.file} "
                "but no encoding for it"
            )
        session = make_session(blobs[CLASSIFIER_GRAPH.key], model_dir)
        return EncodedClassifier(session, meta.encoding, task)
    session = make_session(blobs[PIPELINE_GRAPH.key], model_dir)
    return PipelineGraph(session, meta.features, task)


def self_check(predictor: Predictor, meta: Metadata) -> None:
    """The loaded model must reproduce the probability (or a regression's value, to the
    same share of its size) recorded for each example."""
    for example in meta.examples.scored():
        got, want = predictor.recorded(example)
        scale = max(1.0, abs(want))
        if not math.isfinite(got) or abs(got - want) > SELF_CHECK_TOLERANCE * scale:
            raise BundleError(
                f"model self-check failed: an example scored {got:.6f}, "
                f"recorded {want:.6f}"
            )


def previous_bundle(model_dir: Path) -> Path:
    """Where a publish moves the bundle it replaces, until the new one is in place."""
    return model_dir.with_name(model_dir.name + ".previous")


def load_bundle(model_dir: Path) -> LoadedBundle:
    """Load and verify the bundle in `model_dir`, or raise BundleError saying why.

    With no `model_dir` but its previous bundle (a publish stopped between its two
    renames: training/publish.py), that one is loaded: still complete and verified here,
    it is put back by the next publish."""
    model_dir = Path(model_dir)
    if not model_dir.exists() and previous_bundle(model_dir).is_dir():
        model_dir = previous_bundle(model_dir)
    meta = read_metadata(model_dir)
    blobs = verify_files(model_dir, meta)
    # Served under the version its verified files give, whatever metadata.json says.
    meta = dataclasses.replace(meta, version=model_version(meta.candidate, meta.files))
    try:
        engine = build_engine(model_dir, meta, blobs)
        predictor = predictor_for(engine, meta.target, meta.features)
        self_check(predictor, meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(
            f"{model_dir / METADATA_FILE} is incomplete: {exc!r}"
        ) from exc
    return LoadedBundle(predictor, meta, model_dir)


def file_entries(blobs: dict[Role, bytes]) -> dict[str, FileEntry]:
    """The metadata's `files` for these blobs."""
    return {r.key: FileEntry(r.file, sha256_bytes(b)) for r, b in blobs.items()}


def write_bundle(folder: Path, meta: Metadata, blobs: dict[Role, bytes]) -> Path:
    """Write each file and metadata.json into `folder` (atomically, file by file)."""
    if {r.key for r in blobs} != set(meta.files) or not set(meta.files) <= set(ROLES):
        raise BundleError("the metadata's files and the blobs written differ")
    for role, data in blobs.items():
        write_bytes_atomic(folder / role.file, data)
    write_text_atomic(folder / METADATA_FILE, metadata_text(meta))
    return folder

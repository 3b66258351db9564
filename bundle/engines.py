"""The two ways a bundle is scored, behind one small interface, chosen once at load time.

- `EncodedClassifier`: records are one-hot encoded here (bundle/encoding.py) and only the
  classifier graph runs in onnxruntime. The fast path, used when the bundle has it.
- `PipelineGraph`: the whole exported Pipeline graph takes the raw columns.

Training proves both answer like the scikit-learn Pipeline on the whole test split.
Both give the task's scores (bundle/format.py): the positive class's probability (binary),
a row of probabilities per record in the order of the target's classes (multiclass), or
the predicted value (regression).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from bundle.encoding import DenseEncoder
from bundle.format import BINARY, MULTICLASS, REGRESSION, BundleError
from bundle.rules import FeatureRule

# The whole-pipeline graph replaces this string with the imputer's "missing" category; a
# missing (None) categorical value is sent as it.
MISSING_INPUT = ""
# Only the probabilities: the graph's label output is computed but not copied out.
PROBABILITIES = ["probabilities"]


class Engine(Protocol):
    """The task's scores for validated records, one at a time or many."""

    graph: str

    def proba_one(self, record: Mapping[str, Any]) -> Any: ...

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray: ...

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray: ...


def onnxruntime() -> Any:
    """onnxruntime with its telemetry off. Its official builds otherwise write a device id
    and an event database under ~/.cache when imported (their Privacy.md). The variable
    counts only before the first import; the call stops the events of a process that
    imported onnxruntime earlier."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort


def task_output(session: Any, task: str) -> tuple[list[str], Callable, Callable]:
    """The graph output copied out for the task, how its scores are read from it (all
    rows), and how one row's score is typed."""
    if task == REGRESSION:  # skl2onnx's regressors: one [N, 1] output, "variable"
        return [session.get_outputs()[0].name], lambda a: a[:, 0], float
    if task == MULTICLASS:
        return PROBABILITIES, lambda a: a, lambda row: row
    if task != BINARY:
        raise BundleError(f"the model's task {task!r} is not one this code scores")
    return PROBABILITIES, lambda a: a[:, 1], float


def make_session(onnx_bytes: bytes, source: Any) -> Any:
    """An onnxruntime session pinned to one thread: server workers are the parallelism."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(
            onnx_bytes, options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise BundleError(
            f"onnxruntime {ort.__version__} cannot load {source}: {exc}"
        ) from exc


class EncodedClassifier:
    """The classifier graph over the encoded matrix; the encoding runs in numpy."""

    graph = "classifier_graph"

    def __init__(
        self, session: Any, encoding: Mapping[str, Any], task: str = BINARY
    ) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._outputs, self._scores, self._one = task_output(session, task)
        self.encoder = DenseEncoder(encoding)

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._scores(self._session.run(self._outputs, {self._input: x})[0])

    def proba_one(self, record: Mapping[str, Any]) -> Any:
        return self._one(self._run(self.encoder.encode_one(record))[0])

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not records:
            return np.empty(0, dtype=np.float32)
        return self._run(self.encoder.encode_records(records))

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        return self._run(self.encoder.encode_columns(columns))


class PipelineGraph:
    """The whole exported Pipeline: one graph input per feature, raw values in."""

    graph = "pipeline_graph"

    def __init__(
        self, session: Any, features: Sequence[FeatureRule], task: str = BINARY
    ) -> None:
        names = [i.name for i in session.get_inputs()]
        if len(names) != len(features):
            raise BundleError(
                f"the pipeline graph has {len(names)} inputs but the metadata lists "
                f"{len(features)} features"
            )
        self._session = session
        self._outputs, self._scores, self._one = task_output(session, task)
        pairs = list(zip(names, (f.name for f in features), features))
        self._numeric = [(i, n) for i, n, f in pairs if f.numeric]
        self._categorical = [(i, n) for i, n, f in pairs if not f.numeric]

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._scores(self._session.run(self._outputs, feeds)[0])

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        feeds = {}
        for graph_input, feature in self._numeric:
            values = np.asarray(columns[feature], dtype=np.float32)
            feeds[graph_input] = values.reshape(-1, 1)
        for graph_input, feature in self._categorical:
            values = [MISSING_INPUT if v is None else v for v in columns[feature]]
            feeds[graph_input] = np.array(values, dtype=object).reshape(-1, 1)
        return self._run(feeds)

    def proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        if not records:
            return np.empty(0, dtype=np.float32)
        names = [f for _, f in self._numeric + self._categorical]
        return self.proba_columns({n: [r[n] for r in records] for n in names})

    def proba_one(self, record: Mapping[str, Any]) -> Any:
        return self._one(self.proba_records([record])[0])

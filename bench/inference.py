"""In-process speed of the prediction core: one record, and a 10,000-record batch.

python -m bench.inference
"""

from __future__ import annotations

import statistics
import sys
import time

from bench.workload import api_records, model
from bench.machine import print_rows

BATCH = 10_000


def timings(fn, items, warmup: int = 300) -> list[float]:
    """Seconds per call of fn(item) for each item, after a warm-up."""
    for item in items[:warmup]:
        fn(item)
    out = []
    clock = time.perf_counter
    for item in items:
        start = clock()
        fn(item)
        out.append(clock() - start)
    return out


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..1) of values."""
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def run(calls: int = 20_000, repeats: int = 7) -> list[tuple[str, str, str]]:
    """(figure, measured, goal) rows for the report."""
    loaded = model()
    predictor = loaded.predictor
    records = api_records(BATCH)
    one = timings(predictor.predict_one, [records[i % BATCH] for i in range(calls)])
    batch = timings(predictor.predict_many, [records] * repeats, warmup=1)
    from service.schemas import batch_schema, record_schema

    schema = record_schema(loaded.features)()
    check = timings(schema.load, records[:5000])
    batch_check = batch_schema(type(schema), 1000)()
    body = {"records": records[:1000]}
    checks = timings(batch_check.load, [body] * repeats, warmup=1)
    graph = {
        "classifier_graph": "classifier.onnx over the encoded matrix",
        "pipeline_graph": "model.onnx, the whole Pipeline (no classifier.onnx)",
    }[predictor.graph]
    return [
        ("graph served", f"{loaded.version}: {graph}", ""),
        (
            "predict_one, median (p99)",
            f"{statistics.median(one) * 1e3:.3f} ms ({percentile(one, 0.99) * 1e3:.3f} ms)",
            "<= 0.1 ms",
        ),
        (
            "predict_many, 10,000 records",
            f"{BATCH / statistics.median(batch):,.0f} records/s",
            ">= 150,000 records/s",
        ),
        (
            "validation of one record (schema.load), median",
            f"{statistics.median(check) * 1e3:.4f} ms",
            "",
        ),
        (
            "validation of a 1000-record batch, median",
            f"{statistics.median(checks) * 1e3:.2f} ms",
            "",
        ),
    ]


def main() -> int:
    print_rows(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bench only: the production server, or variants of it, for measurements.

    python -m bench.serve [--variant NAME] [--baseline]

Runs the same start sequence as `python -m deploy.serve`; `--variant` changes gunicorn's
options for tuning runs, `--baseline` swaps the model for a constant answer: same server,
app factory, schema validation and response building, no model - the ceiling the real
server's throughput is compared with ("validation alone"). `--shadow-greenlet` scores a
shadow model (SHADOW_MODEL_DIR) on a greenlet instead of an OS thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from bundle.predictor import Prediction
from deploy.serve import build_app, start

# gunicorn option overrides per variant (environment variables cover the rest).
VARIANTS = {
    "default": {},
    # The worker class before the gevent one (deploy/workers.py): bench/slowclients.py.
    "sync": {"worker_class": "sync"},
    "gthread-2": {"worker_class": "gthread", "threads": 2},
    "gthread-4": {"worker_class": "gthread", "threads": 4},
}


class ConstantPredictor:
    """Answers every record with one fixed prediction, without running a model."""

    def __init__(self, real, probability: float) -> None:
        # The names the API's texts and /health read from the real predictor.
        self.positive_label, self.negative_label = (
            real.positive_label,
            real.negative_label,
        )
        self.graph = real.graph
        self.answer = Prediction(real.negative_label, probability)

    def predict_one(self, record):
        return self.answer

    def predict_many(self, records):
        return [self.answer] * len(records)


def baseline_app(settings, model):
    """The app over the real bundle's metadata (schema, version) but a constant model."""
    constant = ConstantPredictor(model.predictor, 0.25)
    return build_app(settings, dataclasses.replace(model, predictor=constant))


def shadow_on_greenlets() -> None:
    """The shadow model's scoring loop as a greenlet on the worker's event loop: the
    alternative to service/shadow.py's OS thread that bench/shadow.py measures."""
    import gevent

    from service import shadow

    def spawn(run, args):
        return gevent.spawn(run, *args)

    shadow.real_thread_tools = lambda: (spawn, gevent.sleep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="default", choices=VARIANTS)
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--shadow-greenlet", action="store_true")
    args = parser.parse_args(argv)
    if args.shadow_greenlet:
        shadow_on_greenlets()
    make_app = baseline_app if args.baseline else build_app
    return start(make_app=make_app, **VARIANTS[args.variant])


if __name__ == "__main__":
    sys.exit(main())

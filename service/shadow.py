"""Shadow scoring: a second verified model scores a sample of answered requests, off the
request path, so a challenger meets live traffic before it serves any.

With SHADOW_MODEL_DIR set, the app loads that bundle (bundle/store.py: the same
verification as the served one) and refuses to start when it fails or cannot take the
records the served model takes (another task, other classes, a feature the served model
does not have). After a 200, a sample of requests (SHADOW_SAMPLE_RATE) is put on a
bounded queue (SHADOW_QUEUE_RECORDS records per worker); what does not fit is dropped
and counted, never waited for. One OS thread per worker takes everything queued and
scores it as one batch (onnxruntime releases the GIL while it runs), then counts the
pairs (monitoring/agreement.py). Under gevent workers that thread is a real one, taken from
before gevent's patching: a greenlet would score on the request loop. The answer never
depends on the shadow: it is built before the records are queued, and queueing never
waits.
"""

from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from bundle.errors import ConfigError
from bundle.format import REGRESSION
from bundle.predictor import Prediction
from bundle.store import LoadedBundle, load_bundle
from monitoring.agreement import ShadowCounts

LOG = logging.getLogger("service.shadow")
# How long the scoring thread sleeps when the queue is empty.
IDLE = 0.02


def incompatible(served: LoadedBundle, shadow: LoadedBundle) -> str | None:
    """Why the shadow cannot score what the served model takes, or None."""
    a, b = served.metadata.target, shadow.metadata.target
    if a.task != b.task:
        return f"it is a {b.task} model and the served one a {a.task} model"
    if a.task != REGRESSION and a.labels != b.labels:
        return f"its classes {b.labels} are not the served model's {a.labels}"
    missing = {r.name for r in shadow.features} - {r.name for r in served.features}
    if missing:
        return f"it needs features the served model does not take: {sorted(missing)}"
    return None


def load_shadow(directory: Path, served: LoadedBundle) -> LoadedBundle:
    """The verified shadow bundle, or ConfigError naming SHADOW_MODEL_DIR and why not."""
    from bundle.format import BundleError

    try:
        shadow = load_bundle(directory)
    except BundleError as exc:
        raise ConfigError(f"SHADOW_MODEL_DIR: {exc}") from exc
    why = incompatible(served, shadow)
    if why:
        raise ConfigError(f"SHADOW_MODEL_DIR={directory} cannot shadow: {why}")
    return shadow


def real_thread_tools() -> tuple[Callable, Callable[[float], None]]:
    """start_new_thread and sleep as the OS has them, before any gevent patching."""
    import _thread

    try:
        from gevent import monkey
    except ImportError:  # no gevent: nothing is patched
        return _thread.start_new_thread, time.sleep
    if not monkey.is_module_patched("threading"):
        return _thread.start_new_thread, time.sleep
    start = monkey.get_original("_thread", "start_new_thread")
    return start, monkey.get_original("time", "sleep")


class Shadow:
    """The shadow model, its queue and the thread that scores it, per worker process."""

    def __init__(
        self,
        model: LoadedBundle,
        counts: ShadowCounts,
        rate: float,
        capacity: int,
        chance: Callable[[], float] = random.random,
    ) -> None:
        self.model, self.counts = model, counts
        self.rate, self.capacity, self.chance = rate, capacity, chance
        self.queue: collections.deque = collections.deque()
        # Records put on and taken off the queue: each written by one side only.
        self.added = self.taken = 0
        self._pid = -1
        self._lock = threading.Lock()

    def offer(
        self, records: Sequence[Mapping[str, Any]], results: Sequence[Prediction]
    ) -> None:
        """Queue a sampled request's records and answers; what does not fit is counted
        as dropped."""
        if self.rate <= 0 or self.chance() >= self.rate:
            return
        if self._pid != os.getpid():
            self._start()
        room = max(self.capacity - (self.added - self.taken), 0)
        if room < len(records):
            self.counts.dropped(len(records) - room)
            records, results = records[:room], results[:room]
        if records:
            self.added += len(records)
            self.queue.append((records, results))

    def _start(self) -> None:
        """This process's scoring thread (a forked worker has none of its parent's)."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self.queue.clear()
            self.added = self.taken = 0
            self.counts.store.view()  # opened here, not raced by two threads
            start, sleep = real_thread_tools()
            # A weak reference: the thread ends with the app (a test's), not after it.
            start(run_shadow, (weakref.ref(self), sleep))
            self._pid = os.getpid()

    def _take(self) -> tuple[list, list]:
        """Everything queued, as one batch."""
        records: list = []
        results: list = []
        while self.queue:
            r, p = self.queue.popleft()
            records.extend(r)
            results.extend(p)
        return records, results

    def work(self) -> bool:
        """Score everything queued as one batch; False when nothing was."""
        records, results = self._take()
        if not records:
            return False
        self.score(records, results)
        self.taken += len(records)
        return True

    def score(self, records: list, results: list) -> None:
        """Score one batch with the shadow and count it; a failure is counted, logged."""
        try:
            begin = time.perf_counter()
            shadow = self.model.predictor.predict_many(records)
            seconds = time.perf_counter() - begin
            self.counts.count(results, shadow, seconds)
        except Exception:
            self.counts.failed(len(records))
            LOG.exception("shadow scoring failed for %d record(s)", len(records))

    def figures(self) -> dict[str, Any]:
        """GET /monitoring's `shadow`: the model, the sample rate and the counts."""
        return {
            "model_version": self.model.version,
            "sample_rate": self.rate,
            "queue_records": self.capacity,
            **self.counts.figures(),
        }


def run_shadow(ref: "weakref.ref[Shadow]", sleep: Callable[[float], None]) -> None:
    """The scoring thread: score what the shadow queues until the worker exits or
    nothing holds the shadow any more."""
    while True:
        shadow = ref()
        if shadow is None:
            return
        if not shadow.work():
            del shadow  # not held while asleep
            sleep(IDLE)

"""Data capture: an opt-in, sampled log of scored records, as JSON lines.

Each line is one scored record: `{"type": "capture", "ts", "request_id", "row",
"model_version", "prediction", "probability", "record"}`, the answer's fields being
POST /predict's for the task: the class and its probability (binary), those and every
class's `probabilities` (multiclass), or the value as `prediction` (regression). `row` is
the record's place in its batch (0 for POST /predict), so a true label can be joined
later by request ID and row (`make monitor`); callers who send their own `X-Request-ID`
know both. Only the validated record is written: never a header, so never the bearer
token.

Destination `stdout` (Heroku's log drains carry it) or a file, appended to by every
worker; each write is one `os.write` of whole lines, so workers' lines do not mix.
Bounded: capture stops, with one warning, when the file would grow past
CAPTURE_MAX_BYTES (on stdout: when this worker has written that much).

Capture never fails a prediction: a write that fails (a full disk: ENOSPC) drops its
lines whole (a file is cut back to its size before the write, under a lock the workers
share), counts them through the `dropped` callback (a Prometheus counter) and logs one
warning per minute at most, with how many records it stands for.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import random
import time
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from service.settings import ConfigError

LOG = logging.getLogger("service.capture")
STDOUT = "stdout"
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode
# A failing destination fails on every request: one warning a minute says it, not one a
# request (which would fill the same full disk with log lines).
WARN_INTERVAL = 60.0


def answer(result: NamedTuple) -> dict[str, Any]:
    """A prediction's captured fields (bundle/predictor.py's Prediction), as POST
    /predict answers them: a regression's value, else the class, its probability and
    (multiclass) every class's."""
    if result.value is not None:
        return {"prediction": float(result.value)}
    out = {"prediction": result.label, "probability": float(result.probability)}
    if result.probabilities is not None:
        out["probabilities"] = result.probabilities
    return out


def timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds."""
    second = int(now)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{text}.{int((now - second) * 1000):03d}Z"


class Throttle:
    """At most one report per interval, standing for every event since the last one."""

    def __init__(
        self, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._next = float("-inf")
        self._held = 0

    def due(self, n: int) -> int:
        """Add n events; how many to report now (0: stay quiet for now)."""
        self._held += n
        now = self.clock()
        if now < self._next:
            return 0
        self._next = now + self.interval
        held, self._held = self._held, 0
        return held


def write_all(fd: int, data: bytes) -> int:
    """Write every byte (os.write may take part); raises OSError with `.sent` set to
    the bytes written before the failure."""
    sent = 0
    try:
        while sent < len(data):
            sent += os.write(fd, data[sent:])
    except OSError as exc:
        exc.sent = sent  # type: ignore[attr-defined]
        raise
    return sent


class Capture:
    """Writes sampled scored records as JSON lines to stdout or a file."""

    def __init__(
        self,
        destination: str,
        sample_rate: float,
        max_bytes: int,
        version: str,
        dropped: Callable[[int], None] | None = None,
    ) -> None:
        self.destination = destination
        self.sample_rate = float(sample_rate)
        self.max_bytes = int(max_bytes)
        self.version = version
        self.dropped = dropped
        self._warn = Throttle(WARN_INTERVAL)
        self._pid = -1
        self._fd = -1
        self._written = 0
        self._full = False
        if destination != STDOUT:
            try:  # refuse to start now rather than lose every record later
                os.close(self._open_file())
            except OSError as exc:
                raise ConfigError(
                    f"CAPTURE_DESTINATION={destination!r} cannot be written: "
                    f"{exc.strerror}"
                ) from exc

    def _open_file(self) -> int:
        return os.open(self.destination, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _descriptor(self) -> int:
        """This process's descriptor, opened after the fork (workers do not share it)."""
        if self._pid != os.getpid():
            self._fd = 1 if self.destination == STDOUT else self._open_file()
            self._pid, self._written, self._full = os.getpid(), 0, False
        return self._fd

    def sample(self, n: int) -> list[int]:
        """Which of n records to capture (Python's random: reseeded in each worker)."""
        rate = self.sample_rate
        if rate >= 1.0:
            return list(range(n))
        draw = random.random
        return [i for i in range(n) if draw() < rate]

    def line(
        self, request_id: str, row: int, record: Mapping[str, Any], result: NamedTuple
    ) -> str:
        return _encode(
            {
                "type": "capture",
                "ts": timestamp(time.time()),
                "request_id": request_id,
                "row": row,
                "model_version": self.version,
                **answer(result),
                "record": record,
            }
        )

    def write(
        self,
        request_id: str,
        records: Sequence[Mapping[str, Any]],
        results: Sequence[NamedTuple],
    ) -> int:
        """Capture a sample of these scored records; how many lines were written.

        Never raises: lines that cannot be written are dropped whole and counted."""
        rows = self.sample(len(records))
        if not rows:
            return 0
        try:
            lines = [
                (self.line(request_id, i, records[i], results[i]) + "\n").encode(
                    "utf-8"
                )
                for i in rows
            ]
            return self._emit(lines)
        except Exception as exc:  # a prediction is answered whatever capture meets
            lost = getattr(exc, "unwritten", len(rows))
            self._drop(lost, exc)
            return len(rows) - lost

    def _drop(self, n: int, exc: Exception) -> None:
        """Count n records not captured; warn once per interval."""
        if self.dropped is not None:
            self.dropped(n)
        held = self._warn.due(n)
        if held:
            reason = getattr(exc, "strerror", None) or repr(exc)
            LOG.warning(
                "data capture to %s failed (%s): %d record(s) dropped since the last "
                "such warning (at most one every %d s)",
                self.destination,
                reason,
                held,
                WARN_INTERVAL,
            )

    def _emit(self, lines: list[bytes]) -> int:
        """Write the lines; how many (0: capture stopped at its bound). A failure raises
        with `.unwritten`, the lines dropped."""
        fd = self._descriptor()
        if self._full:
            return 0
        n = sum(map(len, lines))
        if fd == 1:
            if self._written + n > self.max_bytes:
                return self._stop()
            return self._emit_stdout(fd, lines)
        data = b"".join(lines)
        # The workers take turns (flock: per open file), so a write cut short is cut
        # back to where it began, and nobody else's line with it.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size + n > self.max_bytes:
                return self._stop()
            try:
                write_all(fd, data)
            except OSError as exc:
                if exc.sent:  # part of a line on disk: cut the file back (O_APPEND)
                    os.ftruncate(fd, size)
                exc.unwritten = len(lines)  # type: ignore[attr-defined]
                raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        self._written += n
        return len(lines)

    def _emit_stdout(self, fd: int, lines: list[bytes]) -> int:
        """One write per line: a pipe takes up to 4 KiB in one piece, so the workers'
        lines stay whole; lines after a failed one are dropped with it."""
        for done, data in enumerate(lines):
            try:
                self._written += write_all(fd, data)
            except OSError as exc:
                exc.unwritten = len(lines) - done  # type: ignore[attr-defined]
                raise
        return len(lines)

    def _stop(self) -> int:
        """Stop capturing at CAPTURE_MAX_BYTES, with one warning."""
        self._full = True
        LOG.warning(
            "data capture stopped: %s reached CAPTURE_MAX_BYTES=%d",
            self.destination,
            self.max_bytes,
        )
        return 0

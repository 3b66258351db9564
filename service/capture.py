"""Data capture: an opt-in, sampled log of scored records, as JSON lines.

Each line is one scored record: `{"type": "capture", "ts", "request_id", "row",
"model_version", "prediction", "probability", "record"}`. `row` is the record's place in
its batch (0 for POST /predict), so a true label can be joined later by request ID and
row (`make monitor`); callers who send their own `X-Request-ID` know both. Only the
validated record is written: never a header, so never the bearer token.

Destination `stdout` (Heroku's log drains carry it) or a file, appended to by every
worker; each write is one `os.write` of whole lines, so workers' lines do not mix.
Bounded: capture stops, with one warning, when the file would grow past
CAPTURE_MAX_BYTES (on stdout: when this worker has written that much).
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from typing import Any, Mapping, Sequence

from service.settings import ConfigError

LOG = logging.getLogger("service.capture")
STDOUT = "stdout"
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def timestamp(now: float) -> str:
    """ISO 8601 UTC with milliseconds."""
    second = int(now)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
    return f"{text}.{int((now - second) * 1000):03d}Z"


class Capture:
    """Writes sampled scored records as JSON lines to stdout or a file."""

    def __init__(
        self, destination: str, sample_rate: float, max_bytes: int, version: str
    ) -> None:
        self.destination = destination
        self.sample_rate = float(sample_rate)
        self.max_bytes = int(max_bytes)
        self.version = version
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
        self, request_id: str, row: int, record: Mapping[str, Any], label: str, p: float
    ) -> str:
        return _encode(
            {
                "type": "capture",
                "ts": timestamp(time.time()),
                "request_id": request_id,
                "row": row,
                "model_version": self.version,
                "prediction": label,
                "probability": float(p),
                "record": record,
            }
        )

    def write(
        self,
        request_id: str,
        records: Sequence[Mapping[str, Any]],
        labels: Sequence[str],
        probabilities: Sequence[float],
    ) -> int:
        """Capture a sample of these scored records; how many lines were written."""
        rows = self.sample(len(records))
        if not rows:
            return 0
        lines = [
            (
                self.line(request_id, i, records[i], labels[i], probabilities[i]) + "\n"
            ).encode("utf-8")
            for i in rows
        ]
        return len(rows) if self._emit(lines) else 0

    def _emit(self, lines: list[bytes]) -> bool:
        fd = self._descriptor()
        if self._full:
            return False
        size = self._written if fd == 1 else os.fstat(fd).st_size
        n = sum(map(len, lines))
        if size + n > self.max_bytes:
            self._full = True
            LOG.warning(
                "data capture stopped: %s reached CAPTURE_MAX_BYTES=%d",
                self.destination,
                self.max_bytes,
            )
            return False
        # A pipe takes a line of up to 4 KiB in one piece: one write per line keeps the
        # workers' lines whole on stdout. A file opened O_APPEND takes a whole batch.
        for data in lines if fd == 1 else [b"".join(lines)]:
            while data:
                data = data[os.write(fd, data) :]
        self._written += n
        return True

"""Server worker exit without interpreter teardown.

The model's onnxruntime session is built in the gunicorn master (preload_app) and the
workers are forked from it. onnxruntime's C++ teardown at interpreter exit waits on
threads that exist only in the master, so a forked worker that exits normally hangs
until the master SIGKILLs it at graceful_timeout: every SIGTERM (a deploy, a dyno
restart) would take the full 20 s and end in SIGKILLs. Reproduced with nothing but an
InferenceSession, os.fork() and sys.exit() in the child.

gunicorn calls `worker_exit` after the worker has finished its last request; from there
the worker flushes its logs and leaves with os._exit, keeping gunicorn's exit code.
"""

from __future__ import annotations

import logging
import os
import sys


def pending_exit_code() -> int:
    """The code of the SystemExit being raised, as seen from gunicorn's finally block."""
    exc = sys.exc_info()[1]
    if isinstance(exc, SystemExit):
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 1 if exc is not None else 0


def exit_worker() -> None:
    """Flush logs and streams, then end the worker process at once."""
    code = pending_exit_code()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)

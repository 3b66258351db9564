"""What request IDs, the access log, metrics and security headers cost per request.

Calls the WSGI app in-process (no sockets) with POST /predict, the way gunicorn's workers
run it: metrics in prometheus_client's multiprocess mode, JSON access log at INFO (written
to /dev/null here). Compares against the same app with those hooks removed, and reports
the median of several rounds of many calls each.

    .venv/bin/python -m bench.observability_overhead [--model-dir model] [--calls 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def build_environ(body: bytes) -> dict:
    """A WSGI environ for POST /predict with a JSON body (the stream is rewound per call)."""
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(
        path="/predict", method="POST", data=body, content_type="application/json"
    )
    return builder.get_environ()


def per_call_us(app, environ: dict, body: bytes, calls: int) -> float:
    """Mean CPU microseconds per WSGI call over `calls` calls.

    CPU time of this process, not wall time: the machine is shared, and another process
    taking the core would otherwise count as our overhead.
    """

    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    started = time.process_time()
    for _ in range(calls):
        env = dict(environ)
        env["wsgi.input"] = io.BytesIO(body)
        for _chunk in app(env, start_response):
            pass
    return (time.process_time() - started) / calls * 1e6


def strip_hooks(app) -> None:
    """Remove what service.observability and service.security installed."""
    from service import observability, security

    while isinstance(
        app.wsgi_app, (observability.RequestIds, security.SecurityHeaders)
    ):
        app.wsgi_app = app.wsgi_app.wsgi_app
    funcs = app.after_request_funcs.get(None, [])
    app.after_request_funcs[None] = [
        f for f in funcs if f is not observability.finish_request
    ]
    app.before_request_funcs.get(None, []).clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", default="model")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    # As under gunicorn: multiprocess metrics (must be set before prometheus_client loads).
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bench-"))

    from bundle.store import load_bundle
    from service import create_app
    from service.settings import Settings

    model = load_bundle(Path(args.model_dir))
    body = json.dumps(model.metadata.examples.record).encode()
    environ = build_environ(body)
    shared = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    full = create_app(
        {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"},
        model=model,
        settings=Settings(prometheus_multiproc_dir=shared),
    )
    bare = create_app(
        {"LOG_LEVEL": "INFO", "METRICS_ENABLED": False},
        model=model,
        settings=Settings(),
    )
    strip_hooks(bare)
    real_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
    try:
        per_call_us(full, environ, body, 300)  # warm up both
        per_call_us(bare, environ, body, 300)
        rows = []
        for _ in range(args.rounds):
            rows.append(
                (
                    per_call_us(full, environ, body, args.calls),
                    per_call_us(bare, environ, body, args.calls),
                )
            )
    finally:
        sys.stderr.close()
        sys.stderr = real_stderr
    with_hooks = statistics.median(r[0] for r in rows)
    without = statistics.median(r[1] for r in rows)
    # Rounds alternate the two apps, so the per-round difference cancels slow drift; the
    # difference of the fastest rounds is the least disturbed by other processes.
    overhead = statistics.median(r[0] - r[1] for r in rows)
    floor = min(r[0] for r in rows) - min(r[1] for r in rows)
    print(
        f"POST /predict in-process, {args.rounds} alternating rounds x {args.calls} calls, "
        f"CPU time per call: median {with_hooks:.1f} us with observability + security, "
        f"{without:.1f} us without; overhead: median of round differences "
        f"{overhead:.1f} us, difference of fastest rounds {floor:.1f} us"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per request: an ID, an access log line with the latency, and metrics.

Every request gets an ID (the caller's `X-Request-ID` when it is a sane token, else a new
one), echoed back in the response and stamped on every log line of that request
(service/logs.py). One access line per request carries method, route, status and latency;
request counts, latency and predicted classes go to Prometheus (service/metrics.py),
served at /metrics unless METRICS_ENABLED=false.

The per-request cost is tens of microseconds (bench/observability_overhead.py).
"""

from __future__ import annotations

import logging
import os
import re
import time

from flask import Blueprint, Flask, Response, current_app, request

from service.logs import REQUEST_ID_KEY, configure_logging
from service.metrics import Metrics, metrics_view

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and . _ : - up to 128 characters; anything else is replaced by a new
# ID, so a caller cannot inject text into our logs through this header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
ACCESS_LOG = logging.getLogger("service.access")
START_KEY = "service.request_start"


class RequestIds:
    """WSGI middleware: take or make the request ID, start the clock, echo the ID.

    Plain WSGI rather than Flask hooks: appending to the header list costs about a
    microsecond, setting werkzeug response headers several each.
    """

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        environ[START_KEY] = time.perf_counter()
        rid = environ.get("HTTP_X_REQUEST_ID")
        if not rid or not SANE_REQUEST_ID.fullmatch(rid):
            rid = os.urandom(16).hex()
        environ[REQUEST_ID_KEY] = rid

        def start(status, headers, exc_info=None):
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


def finish_request(response: Response) -> Response:
    """Record metrics and write the access line (Flask after_request)."""
    req = request._get_current_object()  # one proxy lookup instead of one per field
    environ = req.environ
    elapsed = time.perf_counter() - environ.get(START_KEY, time.perf_counter())
    rule = req.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    status = response.status_code
    method = req.method
    metrics = current_app.extensions.get("service_metrics")
    if metrics is not None:
        metrics.observe_request(method, route, str(status), elapsed)
    if ACCESS_LOG.isEnabledFor(logging.INFO):
        path = req.path
        fields = {
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "remote_addr": req.remote_addr,
        }
        ACCESS_LOG.info("%s %s %s", method, path, status, extra={"fields": fields})
    return response


def register_observability(app: Flask, model=None) -> None:
    """Logging from LOG_LEVEL / LOG_FORMAT, request IDs, access log, /metrics.

    Metric names start with the model's project name (census_income_http_...)."""
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    if app.config["METRICS_ENABLED"]:
        namespace = model.metadata.project.slug if model is not None else "model"
        shared = app.config.get("PROMETHEUS_MULTIPROC_DIR", "")
        app.extensions["service_metrics"] = Metrics(namespace, shared)
        blp = Blueprint("metrics", __name__)
        blp.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
        app.register_blueprint(blp)
    app.wsgi_app = RequestIds(app.wsgi_app)
    app.after_request(finish_request)

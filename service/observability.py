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
import re
import time
import uuid

from flask import Blueprint, Flask, Response, current_app, g, request

from service.logs import configure_logging
from service.metrics import Metrics, count_predictions, metrics_view

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and . _ : - up to 128 characters; anything else is replaced by a new
# ID, so a caller cannot inject text into our logs through this header.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
ACCESS_LOGGER = "census.access"
PREDICT_ENDPOINTS = frozenset({"predict.predict", "predict.predict_batch"})


def start_request() -> None:
    """Take or make the request ID; start the clock."""
    g.request_start = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER)
    if given and SANE_REQUEST_ID.fullmatch(given):
        g.request_id = given
    else:
        g.request_id = uuid.uuid4().hex


def finish_request(response: Response) -> Response:
    """Echo the request ID, write the access line, record metrics."""
    elapsed = time.perf_counter() - g.get("request_start", time.perf_counter())
    rid = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = rid
    rule = request.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    status = response.status_code
    metrics = current_app.extensions.get("census_metrics")
    if metrics is not None:
        labels = (request.method, route, str(status))
        metrics.requests.labels(*labels).inc()
        metrics.latency.labels(*labels).observe(elapsed)
        if status == 200 and request.endpoint in PREDICT_ENDPOINTS:
            count_predictions(metrics, response)
    access = logging.getLogger(ACCESS_LOGGER)
    if access.isEnabledFor(logging.INFO):
        access.info(
            "%s %s %s",
            request.method,
            request.path,
            status,
            extra={
                "request_id": rid,
                "method": request.method,
                "path": request.path,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "remote_addr": request.remote_addr,
            },
        )
    return response


def register_observability(app: Flask) -> None:
    """Logging from LOG_LEVEL / LOG_FORMAT, request IDs, access log, /metrics."""
    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    if app.config["METRICS_ENABLED"]:
        app.extensions["census_metrics"] = Metrics()
        blp = Blueprint("metrics", __name__)
        blp.add_url_rule("/metrics", "metrics", metrics_view, methods=["GET"])
        app.register_blueprint(blp)
    app.before_request(start_request)
    app.after_request(finish_request)

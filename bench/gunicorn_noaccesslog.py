"""Bench only: gunicorn.conf.py without the access log, to measure what logging costs."""

from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text())
accesslog = None

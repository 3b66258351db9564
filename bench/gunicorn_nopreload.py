"""Bench only: gunicorn.conf.py with preload off, to measure what preloading saves."""

from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text())
preload_app = False

"""Bench only: gunicorn.conf.py plus gc.freeze() in the master before the workers fork."""

import gc
from pathlib import Path

exec((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text())


def when_ready(server):
    gc.collect()
    gc.freeze()

"""The WSGI entry point gunicorn loads (`service.wsgi:app`).

The one place that reads the environment and loads the model. With preload_app this runs
once, in the gunicorn master: on a dyno it first pulls the model from the DVC remote, and a
model that cannot be pulled or verified stops the server here with one clear line and a
non-zero exit, before any worker starts.
"""

import sys

from service import create_app
from service.dyno import pull_model_at_boot
from service.config import ConfigError
from service.model_store import ModelError

try:
    pull_model_at_boot()
    app = create_app()
except (ModelError, ConfigError) as exc:
    print(f"census-service: refusing to start: {exc}", file=sys.stderr, flush=True)
    sys.exit(3)

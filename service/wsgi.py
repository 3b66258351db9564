"""The WSGI entry point gunicorn loads (`service.wsgi:app`): the one place that reads the
environment and loads the model. With preload_app this happens once, in the master."""

from service import create_app

app = create_app()

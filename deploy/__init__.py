"""Deployment: how the server starts, wherever it runs.

- `serve`: the one server command, `python -m deploy.serve`: settings, model pull,
  verified model, app, gunicorn, as named steps. Procfile, Dockerfile and the other
  platforms' files all run it.
- `model_pull`: the DVC pull at boot (Heroku dynos, pull-at-boot containers).
- `workers`: how a forked worker exits.
"""

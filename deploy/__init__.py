"""Deployment: how the server starts, wherever it runs.

- `serve`: the one server command, `python -m deploy.serve`: settings, model pull,
  verified model, app, gunicorn, as named steps. Procfile, Dockerfile and the other
  platforms' files all run it.
- `settings`: the server's settings (gunicorn, platform, model pull), typed, and the one
  generated list of every setting (`python -m deploy.settings`).
- `model_pull`: the DVC pull at boot (Heroku dynos, pull-at-boot containers).
- `workers`: how a forked worker exits.
"""

"""Helpers shared by the tests and the benchmarks (never imported by the service).

- `servers`: start the real server on 127.0.0.1, wait for /health, stop it.
- `slug`: build a Heroku slug from this checkout and boot it like a dyno.
- `sample`: a small, quick-to-train sample of the configured data set.
- `container`: build and run the project's image without a Docker engine (buildah,
  podman, a stand-in base image).
- `wsgi`: requests the test client cannot make as they are (a chunked body).
"""

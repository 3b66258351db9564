# The service in a container: the same hashed locks as every install (make lock), the same
# server command as the Procfile.
#
# Two images from this one file (docs/deploy.md says when to choose which):
#   default (last stage, "pull"): no model inside; like a Heroku dyno it pulls the model
#     dvc.lock names at start (PULL_MODEL=1) from DVC_REMOTE_URL, with the DVC plugin for
#     that remote chosen here: --build-arg DVC_REMOTE_KIND=s3 (default) | gs | azure | none
#       docker build -t census .
#       docker run -p 8000:8000 -e DVC_REMOTE_URL=s3://bucket/census -e AWS_ACCESS_KEY_ID=... census
#   --target baked: the model/ of the build context copied in; no DVC, no credentials
#       make model && docker build --target baked -t census:baked .
#
# Only the first FROM names an image; every other stage starts from "base", so a build
# can substitute the base (`buildah bud --from ...`) and every stage follows it.
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOME=/app \
    HOST=0.0.0.0 \
    PORT=8000

# A numeric user (Kubernetes runAsNonRoot can check a number, not a name), with a
# passwd entry so tools that look the user up find one.
RUN groupadd --gid 10001 census \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /app census \
    && mkdir /app && chown 10001:10001 /app
WORKDIR /app

# The serving packages in a venv (python:3.11-slim and Debian's python3 alike), without
# DVC: the hashed lock requirements/serve.txt, so every file pip fetches is checked against
# the hash `make lock` recorded. Their bytecode is compiled here, once, because the server
# imports them at every boot. onnxruntime's model-conversion tools and every package's own
# test suite are never imported by the server.
FROM base AS venv
COPY requirements/serve.txt /tmp/serve.txt
RUN python3 -m venv "$VIRTUAL_ENV" \
    && pip install --no-warn-script-location --require-hashes -r /tmp/serve.txt \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && rm -rf "$site"/onnxruntime/transformers "$site"/onnxruntime/quantization \
         "$site"/onnxruntime/tools \
    && find "$site" -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} +

# pip is not needed at run time.
FROM venv AS serve-venv
RUN pip uninstall --yes pip setuptools

# The same plus DVC and the one plugin the remote needs: the hashed lock of that kind,
# requirements/pull-<kind>.txt (the serving pins again, so pip keeps what is installed).
# These run once per boot, in the model pull's child process, so they ship without
# bytecode (~50 MB smaller; the pull compiles what it imports in well under a second).
FROM venv AS pull-venv
ARG DVC_REMOTE_KIND=s3
COPY requirements/pull-${DVC_REMOTE_KIND}.txt /tmp/pull.txt
RUN pip install --no-compile --no-warn-script-location --require-hashes -r /tmp/pull.txt \
    && pip uninstall --yes pip setuptools \
    && find "$VIRTUAL_ENV" -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} +

# The code the server boots with (.dockerignore lets in only that), without any model/.
FROM base AS code
COPY --chown=10001:10001 . /app/
RUN rm -rf /app/model

# The model baked in: no DVC and no credentials at run time.
FROM base AS baked
ENV PULL_MODEL=0
COPY --from=serve-venv /opt/venv /opt/venv
COPY --from=code --chown=10001:10001 /app /app
COPY --chown=10001:10001 model/ /app/model/
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "deploy.serve"]

# The default image: pulls the model dvc.lock names at start. DVC writes its cache and
# model/ under /app, so the numeric user owns it.
FROM base AS pull
ENV PULL_MODEL=1
COPY --from=pull-venv /opt/venv /opt/venv
COPY --from=code --chown=10001:10001 /app /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "deploy.serve"]

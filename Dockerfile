# The Procfile's server in a container: same requirements, same server command.
# The image holds no model: like a Heroku dyno it pulls the one dvc.lock names at start
# (PULL_MODEL=1), from DVC_REMOTE_URL, e.g.
#   docker run -p 8000:8000 -e DVC_REMOTE_URL=s3://bucket/census -e AWS_ACCESS_KEY_ID=... IMAGE
#   docker run -p 8000:8000 -v "$PWD/../census-dvc-remote:/remote:ro" -e DVC_REMOTE_URL=/remote IMAGE
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    PULL_MODEL=1

WORKDIR /app
# DVC writes its cache and the pulled model/ under /app, so the app user owns it.
RUN useradd --create-home --uid 10001 census && chown census:census /app

COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY --chown=census:census params.yaml dvc.yaml dvc.lock ./
COPY --chown=census:census .dvc/config .dvc/config
COPY --chown=census:census bundle/ bundle/
COPY --chown=census:census deploy/ deploy/
COPY --chown=census:census service/ service/

USER census
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=4)"]
CMD ["python", "-m", "deploy.serve"]

# syntax=docker/dockerfile:1
# One image for every role: batchmill serve | worker | migrate | simulator | keys ...
#   docker build -t batchmill .
#   docker run --rm -e BATCHMILL_DATABASE_URL=postgresql://... batchmill migrate
# Runs as uid/gid 10001 and works on a read-only root filesystem (give it a writable /tmp).

ARG PYTHON_VERSION=3.11

# --- build: a virtualenv with Batchmill and its pinned dependencies ----------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG PYTHON_VERSION
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/batchmill
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY migrations ./migrations
# Non-editable install: bytecode is compiled here, so nothing needs writing at run time.
RUN /opt/batchmill/bin/pip install . \
 && /opt/batchmill/bin/pip uninstall --yes pip setuptools \
 && find /opt/batchmill -name '*.pyi' -delete
# The wheel carries the Alembic scripts beside the app (site-packages/migrations), where
# `batchmill migrate` looks for them.

# --- runtime: the virtualenv on a slim Python, nothing else ------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 batchmill \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin batchmill
COPY --from=build /opt/batchmill /opt/batchmill
ENV PATH=/opt/batchmill/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    BATCHMILL_HOST=0.0.0.0 \
    BATCHMILL_WORKER_HTTP_HOST=0.0.0.0 \
    BATCHMILL_SIMULATOR_HOST=0.0.0.0
USER 10001:10001
WORKDIR /tmp
# API (serve), worker health and metrics, simulator.
EXPOSE 8000 9400 8090
ENTRYPOINT ["batchmill"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# biller-server as an image: the API by default, `worker` for the confirmation and delivery worker, any other
# biller-server command likewise (`docker compose run --rm api bills upload ...`). See docs/operations.md.
#
#   docker build --build-arg BILLER_BUILD_COMMIT="$(git rev-parse --short=12 HEAD)" -t biller-server .
#
# Runs as the unprivileged user `biller` (uid 10001); nothing is written but the metrics files of
# prometheus-client's multiprocess mode, under /var/lib/biller/prometheus.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/biller/venv
COPY pyproject.toml README.md ./
COPY biller_server ./biller_server
COPY config ./config
COPY migrations ./migrations
RUN /opt/biller/venv/bin/pip install .

FROM ${PYTHON_IMAGE}
ARG BILLER_BUILD_COMMIT=unknown
ENV PATH=/opt/biller/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BILLER_INSTANCE_DIR=/var/lib/biller \
    BILLER_BUILD_COMMIT=${BILLER_BUILD_COMMIT}
RUN groupadd --system --gid 10001 biller \
    && useradd --system --uid 10001 --gid biller --home-dir /var/lib/biller --shell /usr/sbin/nologin biller \
    && install -d -o biller -g biller -m 0750 /var/lib/biller
COPY --from=build /opt/biller/venv /opt/biller/venv
# The production gunicorn settings (gthread workers, timeouts, max_requests, child_exit for the metrics files).
COPY config/gunicorn.conf.py /opt/biller/gunicorn.conf.py
# The quick start's sample bills (README.md), so the demo stack can load them from inside the container.
COPY docs/samples /opt/biller/samples
USER 10001:10001
WORKDIR /var/lib/biller
EXPOSE 8000
# Liveness: the process answers. (Readiness, the database answering, is /readyz: for a load balancer.)
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["biller-server"]
CMD ["serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000", "--gunicorn-config", "/opt/biller/gunicorn.conf.py"]

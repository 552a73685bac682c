# syntax=docker/dockerfile:1.7
# Consortium coordinator: the jobs API and the runner of each job's Flower ServerApp (port 8700).
#
# Build from the repository root (the context must be the whole repository; .dockerignore keeps
# .venv, var/, node_modules and .git out of it):
#   docker build -f deploy/docker/coordinator.Dockerfile -t consortium/coordinator:0.1.0 .
#
# Base images are pinned by version tag and by the digest of their multi-architecture index;
# bump both together. torch comes from the CPU wheel index (TORCH_INDEX_URL) before anything
# that depends on it, so pip never pulls a CUDA build; every other dependency is pinned by
# deploy/docker/constraints.txt to the versions the tests ran against.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# ---- build: a virtual environment with the service and its dependencies ------------------------
FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/consortium/bin:$PATH
RUN python -m venv /opt/consortium
COPY deploy/docker/constraints.txt /tmp/constraints.txt
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0
COPY core /src/core
COPY tasks /src/tasks
COPY client-sdk /src/client-sdk
COPY services/kit /src/services/kit
COPY services/coordinator /src/services/coordinator
RUN pip install --constraint /tmp/constraints.txt \
    /src/core \
    /src/tasks \
    /src/client-sdk \
    /src/services/kit \
    /src/services/coordinator \
    && pip uninstall --yes pip

# ---- runtime: the environment alone, run as an unprivileged user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="consortium-coordinator" \
      org.opencontainers.image.description="Consortium coordinator: the jobs API and the runner of each job's Flower ServerApp"
RUN groupadd --system --gid 10001 consortium \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/consortium \
        --no-create-home --shell /usr/sbin/nologin consortium \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/consortium
COPY --from=build /opt/consortium /opt/consortium
ENV PATH=/opt/consortium/bin:$PATH \
    HOME=/var/lib/consortium \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLWR_DISABLE_UPDATE_CHECK=1 \
    FLWR_TELEMETRY_ENABLED=0 \
    OMP_NUM_THREADS=1 \
    CONSORTIUM_COORDINATOR_HOST=0.0.0.0
WORKDIR /var/lib/consortium
USER 10001:10001
EXPOSE 8700
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import ssl, urllib.request; urllib.request.urlopen('http://127.0.0.1:8700/api/v1/health', timeout=4, context=ssl._create_unverified_context())"]
ENTRYPOINT ["consortium-coordinator"]

# syntax=docker/dockerfile:1.7
# Consortium client SDK: what a hospital runs (`consortium-client enroll | run | status | budget`).
#
# Build from the repository root (the context must be the whole repository; .dockerignore keeps
# .venv, var/, node_modules and .git out of it):
#   docker build -f deploy/docker/client.Dockerfile -t consortium/client:0.1.0 .
# For NVIDIA GPUs, build against a CUDA wheel index of the same torch release, e.g.
#   --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu<NNN>  (see pytorch.org)
#
# Base images are pinned by version tag and by the digest of their multi-architecture index;
# bump both together. torch comes from TORCH_INDEX_URL (the CPU wheels by default) before
# anything that depends on it; every other dependency is pinned by deploy/docker/constraints.txt
# to the versions the tests ran against. The image holds no key and no certificate: a
# participant's identity (key.pem, cert.pem, ca.pem, identity.json) is mounted at run time.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# ---- build: a virtual environment with the SDK, the built-in tasks and their dependencies -----
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
# openmined-psi (private set intersection of the vertical task) pins an older protobuf than
# Flower needs and runs on the newer one: installed without its pins, as `make install` does
RUN pip install --constraint /tmp/constraints.txt \
    /src/core \
    /src/tasks \
    /src/client-sdk \
    && pip install --constraint /tmp/constraints.txt --no-deps openmined-psi==2.0.6 \
    && pip uninstall --yes pip

# ---- runtime: the environment alone, run as an unprivileged user ------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="consortium-client" \
      org.opencontainers.image.description="Consortium client SDK: a participant's runtime for Flower ClientApps over mutual TLS"
RUN groupadd --system --gid 10001 consortium \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/consortium \
        --no-create-home --shell /usr/sbin/nologin consortium \
    && install -d -o 10001 -g 10001 -m 0700 /var/lib/consortium
COPY --from=build /opt/consortium /opt/consortium
ENV PATH=/opt/consortium/bin:$PATH \
    HOME=/var/lib/consortium \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLWR_DISABLE_UPDATE_CHECK=1 \
    FLWR_TELEMETRY_ENABLED=0 \
    OMP_NUM_THREADS=1 \
    CONSORTIUM_CLIENT_IDENTITIES_DIR=/var/lib/consortium/identities
WORKDIR /var/lib/consortium
USER 10001:10001
ENTRYPOINT ["consortium-client"]
CMD ["--help"]

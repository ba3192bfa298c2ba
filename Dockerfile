# impactlink: a scheduled worker (see docs/deploy.md).
#   one cycle:  docker run --rm IMAGE run --config /config/impactlink.toml
#   service:    docker run -p 9464:9464 IMAGE serve --config /config/impactlink.toml
# Stage 1 builds impactlink's wheel and every dependency's wheel; the final stage installs
# them offline and keeps no compiler, pip cache, sources or wheels.
#
# The base is pinned by digest (the multi-platform index of python:3.11-slim, Debian trixie,
# Python 3.11.15, as published in August 2026), so a rebuild gets the same bytes until the
# pin is moved on purpose. To refresh it, read the tag's current digest and replace both here
# and in the base.digest label below:
#   docker buildx imagetools inspect python:3.11-slim --format '{{json .Manifest.Digest}}'
#   (or: crane digest python:3.11-slim; skopeo inspect docker://python:3.11-slim)
ARG PYTHON_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
# Set at build time by CI: --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=...
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="impactlink" \
      org.opencontainers.image.description="Links CSAT and support tickets to tracker issues and writes Customer Impact back." \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/acme/impactlink" \
      org.opencontainers.image.url="https://github.com/acme/impactlink" \
      org.opencontainers.image.documentation="https://github.com/acme/impactlink/blob/main/docs/deploy.md" \
      org.opencontainers.image.vendor="acme" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim" \
      org.opencontainers.image.base.digest="sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    IMPACTLINK_METRICS_PORT=9464
RUN useradd --create-home --uid 10001 --user-group impactlink
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/impactlink-*.whl
USER 10001:10001
WORKDIR /home/impactlink
EXPOSE 9464
# Only `serve` listens: in any other mode (run, report, ...) the check passes at once.
HEALTHCHECK --interval=60s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0) if b'serve' not in open('/proc/1/cmdline', 'rb').read().split(b'\\0') else urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('IMPACTLINK_METRICS_PORT', '9464') + '/healthz', timeout=4)"]
ENTRYPOINT ["impactlink"]
CMD ["--help"]

# impactlink: a scheduled worker (see docs/deploy.md).
#   one cycle:  docker run --rm IMAGE run --config /config/impactlink.toml
#   service:    docker run -p 9464:9464 IMAGE serve --config /config/impactlink.toml
# Stage 1 builds impactlink's wheel and every dependency's wheel; the final stage installs
# them offline and keeps no compiler, pip cache, sources or wheels.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
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

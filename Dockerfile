# impactlink: a scheduled worker. `docker run IMAGE run --config /config/impactlink.toml`
FROM python:3.11-slim AS build
WORKDIR /src
RUN pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 impactlink
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER impactlink
WORKDIR /home/impactlink
ENTRYPOINT ["impactlink"]
CMD ["--help"]

# The runwayc image: the compiler CLI, and the status agent that `bootstrap --cluster` deploys.
# runwayc publishes no image: build and push your own, then give bootstrap its digest:
#   docker build -t REGISTRY/runwayc:0.1.0 . && docker push REGISTRY/runwayc:0.1.0
#   runwayc bootstrap --cluster --agent-image "$(docker inspect --format '{{index .RepoDigests 0}}' REGISTRY/runwayc:0.1.0)"
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY compiler ./compiler
COPY policies ./policies
COPY overlays ./overlays
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
# Non-root, the same numeric user the agent Deployment runs as (runAsNonRoot needs a number).
USER 65532:65532
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["runwayc"]
CMD ["agent", "--all-namespaces"]

# `warroom serve` as uid 10001, listening on 0.0.0.0:3000 (it refuses to start without a chat platform that
# authenticates its requests or the dashboard's sign-in). The database lives on /data, which must belong to uid 10001;
# the playbooks are baked at /app/playbooks (or mount yours there). Build and smoke-run: .ci/image; docs/DEPLOY.md.
ARG PYTHON=python:3.11.13-slim-bookworm

# The package as a wheel, built apart so the image keeps no build/, egg-info or second copy of the sources.
FROM ${PYTHON} AS wheel
LABEL warroom.build=wheel-stage
WORKDIR /src
COPY requirements-build.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements-build.lock
COPY pyproject.toml README.md ./
COPY adapters ./adapters
COPY bot ./bot
RUN pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOST=0.0.0.0 PORT=3000 \
    WARROOM_PLAYBOOKS=/app/playbooks WARROOM_DATABASE_URL=sqlite:////data/warroom.db
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/warroom --shell /usr/sbin/nologin warroom \
    && mkdir -p /data && chown 10001:10001 /data
# The locked dependencies first, from the lock alone: a change to the code or the README does not reinstall them.
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir --require-hashes -r /tmp/requirements.lock && rm /tmp/requirements.lock
COPY playbooks /app/playbooks
# The package alone (its dependencies are the lock's: pip check fails the build when the lock misses one), then the
# playbooks are checked: a bad playbook fails the build rather than the start.
RUN --mount=type=bind,from=wheel,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-deps /wheels/*.whl && pip check && warroom playbooks check

USER 10001:10001
# Writable, so `warroom demo` (warroom-demo.db) and `warroom console` work here without a volume.
WORKDIR /home/warroom
VOLUME ["/data"]
EXPOSE 3000
STOPSIGNAL SIGTERM
# Liveness: /healthz never touches the database, so a database outage does not get the container restarted.
# Readiness (database reachable, schema at head) is GET /readyz, for a load balancer or an orchestrator.
HEALTHCHECK --start-period=30s --interval=30s --timeout=3s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"]
CMD ["warroom", "serve"]

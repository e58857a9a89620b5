# warroom serve as a non-root user. Mount or bake your playbooks at /app/playbooks.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    WARROOM_PLAYBOOKS=/app/playbooks WARROOM_DATABASE_URL=sqlite:////data/warroom.db PORT=3000

RUN useradd --create-home --uid 10001 warroom && mkdir -p /data && chown warroom /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
RUN pip install --no-cache-dir .
COPY playbooks ./playbooks
RUN warroom playbooks check

USER warroom
VOLUME ["/data"]
EXPOSE 3000
# Liveness: /healthz never touches the database, so a database outage does not get the container restarted.
# Readiness (database reachable, schema at head) is GET /readyz, for a load balancer or an orchestrator.
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz')"
CMD ["warroom", "serve"]

# socialear: one long-running container (scheduler + outbox worker + console).
# SQLite under /app/data by default (mount a volume there); set SOCIALEAR_DATABASE_URL to a
# postgresql+psycopg:// URL to run several replicas against PostgreSQL.
FROM python:3.11-slim AS build
WORKDIR /src
# gcc: setup.py compiles the hot modules with mypyc (the scorer's, about 1.5x faster scoring;
# the prescoring worker's routing and matching, socialear's terms);
# only this stage needs it, the runtime image gets the built extension in the wheel
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* \
 && pip install --no-cache-dir --upgrade pip build
COPY pyproject.toml setup.py README.md ./
COPY socialear socialear
COPY platforms platforms
COPY listener listener
COPY responders responders
COPY storage storage
COPY reports reports
COPY console console
RUN python -m build --wheel --outdir /wheels . \
 && pip wheel --no-cache-dir --wheel-dir /wheels /wheels/*.whl

FROM python:3.11-slim
# FORWARDED_ALLOW_IPS: whose X-Forwarded-For the console believes. Nobody's but loopback by
# default (a client could otherwise pick the address sign-in throttling counts against);
# behind a reverse proxy set it to the proxy's address, as docker-compose.yml does for Caddy.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SOCIALEAR_HOST=0.0.0.0 SOCIALEAR_PORT=8000 SOCIALEAR_RULES=/app/rules.yaml \
    FORWARDED_ALLOW_IPS=127.0.0.1,::1
RUN useradd --create-home --uid 10001 socialear
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels socialear && rm -rf /wheels
WORKDIR /app
COPY rules.yaml ./rules.yaml
COPY samples ./samples
RUN mkdir -p /app/data && chown -R socialear:socialear /app
USER socialear
VOLUME ["/app/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# exec form: SIGTERM reaches socialear directly, which stops cleanly
CMD ["socialear", "run"]

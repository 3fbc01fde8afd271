# dcmon image: the aggregator (default command), `dcmon simulate` and the agent (`dcmon-agent`).
# Runs as an unprivileged user; the registry is baked in at /etc/dcmon/topology.yaml and can be
# replaced by mounting a file over it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 dcmon \
    && useradd --system --uid 10001 --gid dcmon --home-dir /nonexistent --shell /usr/sbin/nologin dcmon

WORKDIR /src
COPY pyproject.toml README.md ./
COPY agents ./agents
COPY monitor ./monitor
RUN pip install ".[aggregator]" && rm -rf /src

COPY config/topology.yaml /etc/dcmon/topology.yaml

USER 10001:10001
WORKDIR /tmp
EXPOSE 9108

# The aggregator's liveness endpoint; services running other commands override it in compose.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=2)"]

ENTRYPOINT ["dcmon"]
CMD ["aggregator", "--topology", "/etc/dcmon/topology.yaml", "--broker", "mqtt://mosquitto:1883", "--listen", "0.0.0.0:9108"]

"""Real Prometheus and Alertmanager (Debian packages) on free loopback ports, for tests.

Each is started from the SHIPPED configuration, rewritten only where a test must: targets on
loopback ports, intervals of one second, ``for:`` durations thirty times shorter (at least 2 s;
their exact values are tested by ``promtool test rules``, not here), and Alertmanager's webhooks
pointed at a ``WebhookReceiver`` (a real HTTP server on port 0) with short group timers.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.conftest import REPO
from tests.services import free_port, wait_until

PROMETHEUS_DIR = REPO / "config" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "config" / "alertmanager" / "alertmanager.yml"
TIME_SCALE = 30
"""Shipped ``for:`` durations are divided by this in tests (1m -> 2 s, 10m -> 20 s)."""
SHORTEST_FOR_S = 2
TEST_KEEP_FIRING_FOR = "12s"
"""Longer than a simulated flap's recovery (4 s) plus scrape and evaluation delays."""
TEST_GROUP_WAIT = "1s"
TEST_GROUP_INTERVAL = "2s"
_DURATION = re.compile(r"(\d+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def http_json(url: str, timeout_s: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


def http_text(url: str, timeout_s: float = 5.0) -> str:
    """GET ``url`` and return its body as text."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body: bytes = response.read()
        return body.decode("utf-8")


def seconds(duration: str) -> float:
    """A Prometheus duration (``1m``, ``1m30s``, ``500ms``) in seconds."""
    return sum(float(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def shortened_for(duration: str) -> str:
    """A shipped ``for:`` scaled down for tests, keeping the order between rules (an incident
    still fires before the center and link alerts it explains)."""
    return f"{max(SHORTEST_FOR_S, round(seconds(duration) / TIME_SCALE))}s"


def fast_rules(destination: Path) -> Path:
    """The shipped rule files with every ``for``/``keep_firing_for`` shortened; returns the dir."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = shortened_for(rule["for"])
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = TEST_KEEP_FIRING_FOR
        (destination / path.name).write_text(yaml.safe_dump(document), encoding="utf-8")
    return destination


@dataclass(frozen=True)
class Notification:
    """One webhook notification Alertmanager sent: the receiver and its JSON payload."""

    receiver: str
    payload: dict[str, Any]

    @property
    def status(self) -> str:
        """``firing`` or ``resolved`` (the group's)."""
        return str(self.payload["status"])

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """The alerts of the group, each with ``status``, ``labels``, ``annotations``."""
        alerts: list[dict[str, Any]] = self.payload["alerts"]
        return alerts

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """Label sets of this notification's firing alerts named ``alertname``."""
        return [
            alert["labels"]
            for alert in self.alerts
            if alert["status"] == "firing" and alert["labels"]["alertname"] == alertname
        ]


class WebhookReceiver:
    """A real HTTP server on port 0 that records every Alertmanager webhook notification.

    Runs aiohttp in a thread of its own (the integration tests are synchronous and poll).
    ``POST /<receiver>`` records the payload under that receiver's name.
    """

    def __init__(self) -> None:
        self._notifications: list[Notification] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self.port: int | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        if not self._started.wait(30):
            raise TimeoutError("the webhook receiver did not start listening")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def notifications(self, since: int = 0) -> list[Notification]:
        """Every notification received, in order, from the ``since``-th on."""
        with self._lock:
            return self._notifications[since:]

    def count(self) -> int:
        """How many notifications arrived so far (a mark for ``notifications(since=...)``)."""
        with self._lock:
            return len(self._notifications)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_post("/{receiver}", self._receive)
        runner = web.AppRunner(app)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = int(runner.addresses[0][1])
            self._started.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    async def _receive(self, request: web.Request) -> web.Response:
        payload = await request.json()
        with self._lock:
            self._notifications.append(Notification(request.match_info["receiver"], payload))
        return web.Response(status=200)


def fast_routes(route: dict[str, Any]) -> None:
    """Short group timers on the root route, inherited by every child route (in place)."""
    route["group_wait"] = TEST_GROUP_WAIT
    route["group_interval"] = TEST_GROUP_INTERVAL
    children = list(route.get("routes", []))
    while children:
        child = children.pop()
        child.pop("group_wait", None)
        child.pop("group_interval", None)
        children.extend(child.get("routes", []))


@dataclass
class Daemon:
    """A service process stopped by PID, with its output in a log file."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    def spawn(self, argv: list[str]) -> None:
        """Start ``argv`` with its output in ``workdir/log``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with (self.workdir / "log").open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=log)

    def log(self) -> str:
        """Everything the process logged."""
        return (self.workdir / "log").read_text(encoding="utf-8", errors="replace")

    def ready(self, path: str) -> bool:
        """Whether ``GET path`` answers 200."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@dataclass
class Alertmanager(Daemon):
    """Alertmanager with the shipped routes, receivers and inhibit rules."""

    def start(self, webhook: WebhookReceiver | None = None) -> None:
        """Render the config, start Alertmanager (no cluster) and wait until it is ready.

        With ``webhook``, every receiver's webhook posts to ``<webhook>/<receiver name>`` and the
        group timers are short (1 s wait, 2 s interval); without, delivery just fails.
        """
        config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
        for receiver in config["receivers"]:
            for hook in receiver.get("webhook_configs", []):
                hook["url"] = (
                    "http://127.0.0.1:9/dcmon"  # discard port
                    if webhook is None
                    else f"{webhook.url}/{receiver['name']}"
                )
        if webhook is not None:
            fast_routes(config["route"])
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        binary = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
        self.spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ]
        )
        wait_until(lambda: self.ready("/-/ready"), timeout_s=60)

    def post(self, *alerts: dict[str, str]) -> None:
        """Send alerts with these label sets, firing now, as Prometheus would."""
        body = json.dumps([{"labels": labels, "annotations": {}} for labels in alerts]).encode()
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert Alertmanager holds, active, silenced and inhibited alike."""
        alerts: list[dict[str, Any]] = http_json(f"{self.url}/api/v2/alerts")
        return alerts


@dataclass
class Prometheus(Daemon):
    """Prometheus with the shipped scrape job and rules, scraping and evaluating every second."""

    def start(
        self, aggregator: str, alertmanager: str | None, job: dict[str, Any] | None = None
    ) -> None:
        """Scrape ``aggregator`` (host:port) as job dcmon; send alerts to ``alertmanager``.

        ``job`` replaces the shipped plain job (e.g. the https one); its targets are replaced.
        """
        shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
        if job is None:
            job = next(job for job in shipped["scrape_configs"] if job["job_name"] == "dcmon")
        job["static_configs"] = [{"targets": [aggregator]}]
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(fast_rules(self.workdir / "rules") / "*.yml")],
            "scrape_configs": [job],
        }
        if alertmanager is not None:
            config["alerting"] = {
                "alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]
            }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        self.spawn(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--rules.alert.resend-delay=1s",
            ]
        )
        wait_until(lambda: self.ready("/-/ready"), timeout_s=60)

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query; raises ``AssertionError`` with Prometheus's message on a query error."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            body = http_json(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{promql!r}: {exc.read().decode()}") from exc
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query_range(self, promql: str, seconds: int = 60) -> list[dict[str, Any]]:
        """Range query over the last ``seconds``, one-second steps."""
        now = float(http_json(f"{self.url}/api/v1/query?query=time()")["data"]["result"][1])
        params = {"query": promql, "start": now - seconds, "end": now, "step": "1s"}
        url = f"{self.url}/api/v1/query_range?" + urllib.parse.urlencode(params)
        try:
            body = http_json(url)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{promql!r}: {exc.read().decode()}") from exc
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def firing(self, alertname: str) -> list[dict[str, str]]:
        """Label sets of the firing alerts named ``alertname`` (from /api/v1/alerts)."""
        alerts = http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]
        return [
            {**alert["labels"], "value": alert["value"]}
            for alert in alerts
            if alert["labels"]["alertname"] == alertname and alert["state"] == "firing"
        ]

"""Real Prometheus and Alertmanager (Debian packages) on free loopback ports, for tests.

Each is started from the SHIPPED configuration, rewritten only where a test must: targets on
loopback ports, intervals of one second, and ``for:`` durations of a few seconds (their exact
values are tested by ``promtool test rules``, not here).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO
from tests.services import free_port, wait_until

PROMETHEUS_DIR = REPO / "config" / "prometheus"
ALERTMANAGER_CONFIG = REPO / "config" / "alertmanager" / "alertmanager.yml"
TEST_FOR = "2s"


def http_json(url: str, timeout_s: float = 5.0) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.load(response)


def http_text(url: str, timeout_s: float = 5.0) -> str:
    """GET ``url`` and return its body as text."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        body: bytes = response.read()
        return body.decode("utf-8")


def fast_rules(destination: Path) -> Path:
    """The shipped rule files with every ``for``/``keep_firing_for`` shortened; returns the dir."""
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted((PROMETHEUS_DIR / "rules").glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = TEST_FOR
                rule.pop("keep_firing_for", None)
        (destination / path.name).write_text(yaml.safe_dump(document), encoding="utf-8")
    return destination


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
    """Alertmanager with the shipped routes and inhibit rules (webhooks point nowhere)."""

    def start(self) -> None:
        """Render the config, start Alertmanager (no cluster) and wait until it is ready."""
        config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
        for receiver in config["receivers"]:
            for webhook in receiver.get("webhook_configs", []):
                webhook["url"] = "http://127.0.0.1:9/dcmon"  # discard port: delivery just fails
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

"""The real thing: simulated agents → mosquitto → aggregator → Prometheus (rules) → Alertmanager."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import REPO
from tests.dashboard_queries import prometheus_queries, variable_queries
from tests.monitoring_stack import Alertmanager, Daemon, Prometheus, http_json, http_text
from tests.services import Mosquitto, wait_until

# Starts Prometheus, Alertmanager, an aggregator and 72 agents: generous on a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TOPOLOGY = REPO / "config" / "topology.yaml"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@dataclass
class Stack:
    """Every running piece of one monitored, simulated federation."""

    broker: Mosquitto
    aggregator: Daemon
    federation: subprocess.Popen[str]
    prometheus: Prometheus
    alertmanager: Alertmanager

    def inject(self, fault: str) -> None:
        """Send one fault (``partition central``) to the simulated federation."""
        assert self.federation.stdin is not None
        assert self.federation.stdout is not None
        self.federation.stdin.write(fault + "\n")
        self.federation.stdin.flush()
        assert self.federation.stdout.readline().strip() == f"injected {fault}"

    def exported_metric_names(self) -> set[str]:
        """Metric names the aggregator exports: sample names and declared families."""
        names = set()
        for line in http_text(self.aggregator.url + "/metrics").splitlines():
            if line.startswith("# TYPE "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                names.add(line.split("{", 1)[0].split(" ", 1)[0])
        return names


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole pipeline, healthy: every center connected, seen by Prometheus."""
    root = tmp_path_factory.mktemp("stack")
    broker = Mosquitto(root / "mosquitto")
    aggregator = Daemon(root / "aggregator")
    alertmanager = Alertmanager(root / "alertmanager")
    prometheus = Prometheus(root / "prometheus")
    federation: subprocess.Popen[str] | None = None
    try:
        broker.start()
        aggregator.spawn(
            [
                sys.executable,
                "-m",
                "monitor",
                "aggregator",
                f"--topology={TOPOLOGY}",
                f"--broker={broker.url}",
                f"--listen=127.0.0.1:{aggregator.port}",
                "--instance=agg-test",
                "--default-heartbeat-interval=1",
                "--probe-fresh=5",
            ]
        )
        wait_until(lambda: aggregator.ready("/healthz"), timeout_s=60)
        federation = subprocess.Popen(
            [sys.executable, "-m", "tests.simulated_federation", broker.url, str(TOPOLOGY)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=ENV,
            cwd=REPO,
        )
        assert federation.stdout is not None
        assert federation.stdout.readline().strip() == "ready"
        alertmanager.start()
        prometheus.start(f"127.0.0.1:{aggregator.port}", f"127.0.0.1:{alertmanager.port}")
        running = Stack(broker, aggregator, federation, prometheus, alertmanager)

        def all_connected() -> bool:
            result = prometheus.query('dcmon_federation_centers{status="connected"} == 72')
            return bool(result)

        wait_until(all_connected, timeout_s=60, interval_s=0.5)
        yield running
    finally:
        if federation is not None:
            assert federation.stdin is not None
            federation.stdin.close()
            try:
                federation.wait(timeout=15)
            except subprocess.TimeoutExpired:
                federation.kill()
                federation.wait(timeout=5)
            assert federation.stdout is not None
            federation.stdout.close()
        for daemon in (prometheus, alertmanager, aggregator):
            daemon.stop()
        broker.stop()


def test_a_healthy_federation_raises_only_the_watchdog(stack: Stack) -> None:
    """With every center connected, Prometheus fires the Watchdog and nothing else."""

    def only_the_watchdog() -> bool:
        # DcmonAggregatorAbsent may fire (shortened `for:`) before Prometheus's first scrape.
        firing = stack.prometheus.query('ALERTS{alertstate="firing"}')
        return [alert["metric"]["alertname"] for alert in firing] == ["DcmonWatchdog"]

    wait_until(only_the_watchdog, timeout_s=20, interval_s=0.5)
    assert not stack.prometheus.query('ALERTS{alertname=~"DcmonCenter.+|DcmonRootCause"}')


def test_a_partitioned_region_pages_for_its_root_cause_and_explains_the_rest(
    stack: Stack,
) -> None:
    """Cutting a region off fires DcmonRootCause; the center alerts it explains are inhibited."""
    stack.inject("partition central")
    try:
        prometheus = stack.prometheus
        # The hub's uplink that cuts the region off is a root cause naming many centers.
        wait_until(
            lambda: any(float(a["value"]) >= 2 for a in prometheus.firing("DcmonRootCause")),
            timeout_s=40,
            interval_s=0.5,
        )
        wait_until(lambda: prometheus.firing("DcmonCenterNotConnected"), timeout_s=30)
        wait_until(lambda: prometheus.firing("DcmonFederationPartitioned"), timeout_s=30)
        root_causes = {a["root_cause"]: a for a in prometheus.firing("DcmonRootCause")}
        centers = prometheus.firing("DcmonCenterNotConnected")

        # Every unreachable-center alert is explained by a firing root cause with its label,
        # and carries the center's tier (for routing) and the aggregator's own root cause.
        explained = {
            series["metric"]["center"]: series["metric"]["root_cause"]
            for series in prometheus.query("dcmon_center_root_cause_info")
        }
        for alert in centers:
            assert alert["root_cause"] in root_causes, alert
            assert alert["root_cause"] == explained[alert["center"]]
            assert alert["tier"] in {"national", "regional", "hpc", "provincial"}
        biggest = max(root_causes.values(), key=lambda alert: float(alert["value"]))
        behind_biggest = [a for a in centers if a["root_cause"] == biggest["root_cause"]]
        assert len(behind_biggest) >= 2

        # Alertmanager: the root cause is active, the center alerts it explains are suppressed.
        def inhibited_in_alertmanager() -> bool:
            alerts = stack.alertmanager.alerts()
            cause = biggest["root_cause"]
            by_name = [
                a
                for a in alerts
                if a["labels"]["alertname"] == "DcmonCenterNotConnected"
                and a["labels"]["root_cause"] == cause
            ]
            roots = [
                a
                for a in alerts
                if a["labels"]["alertname"] == "DcmonRootCause"
                and a["labels"]["root_cause"] == cause
            ]
            return (
                len(by_name) >= len(behind_biggest)
                and all(a["status"]["state"] == "suppressed" for a in by_name)
                and all(a["status"]["inhibitedBy"] for a in by_name)
                and bool(roots)
                and all(a["status"]["state"] == "active" for a in roots)
            )

        wait_until(inhibited_in_alertmanager, timeout_s=30, interval_s=0.5)
    finally:
        stack.inject("heal")


def test_every_dashboard_query_runs_and_reads_only_exported_metrics(stack: Stack) -> None:
    """Every panel query runs on Prometheus and reads only metrics the aggregator exports."""
    exported = stack.exported_metric_names()
    queries = prometheus_queries({"center": "hub-central", "resource": "gpus"})
    assert queries
    for query in queries:
        missing = query.metric_names() - exported
        assert not missing, f"{query.dashboard}: {query.panel}: not exported: {missing}"
        if query.instant:
            stack.prometheus.query(query.expr)
        else:
            stack.prometheus.query_range(query.expr, seconds=30)
    # Queries that must show something on a running federation do.
    assert stack.prometheus.query(
        'dcmon_center_info{job="dcmon"} * on (job, instance, center) group_left (status)'
        ' (dcmon_center_status{job="dcmon"} == 1)'
    )


def test_every_dashboard_variable_lists_values(stack: Stack) -> None:
    """Template variables (label_values(metric, label)) find values in Prometheus."""
    exported = stack.exported_metric_names()
    for dashboard, query in variable_queries():
        selector, label = query.removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
        assert selector.split("{", 1)[0] in exported, dashboard
        url = f"{stack.prometheus.url}/api/v1/label/{label}/values?match[]={selector}"
        values = http_json(url.replace('"', "%22"))["data"]
        assert "hub-central" in values, dashboard


def test_the_node_graph_reads_nodes_and_edges_frames_from_the_aggregator(stack: Stack) -> None:
    """The Node Graph panel's URL serves nodes (id, title) and edges (id, source, target)."""
    frames = http_json(stack.aggregator.url + "/api/v1/topology?format=nodegraph")
    assert {"id", "title", "mainStat", "color"} <= set(frames["nodes"][0])
    assert {"id", "source", "target", "mainStat"} <= set(frames["edges"][0])
    assert len(frames["nodes"]) == 72


def test_every_metric_the_alert_rules_read_is_exported(stack: Stack) -> None:
    """The alert rules read only metric names the running aggregator exports."""
    exported = stack.exported_metric_names()
    rules = "".join(
        path.read_text(encoding="utf-8")
        for path in sorted((REPO / "config" / "prometheus" / "rules").glob("*.yml"))
    )
    used = set(re.findall(r"\b(dcmon_[a-z0-9_]+)\b", rules))
    assert "dcmon_center_root_cause_info" in used
    assert used <= exported, used - exported


def test_a_lost_broker_raises_only_the_blind_alert_and_no_center_page(stack: Stack) -> None:
    """Killing the broker fires DcmonAggregatorBlind; no center is declared not connected."""
    center_alerts = 'ALERTS{alertname=~"DcmonCenter.+|DcmonRootCause"}'
    wait_until(lambda: not stack.prometheus.query(center_alerts), timeout_s=30, interval_s=0.5)
    stack.broker.stop()
    try:
        prometheus = stack.prometheus
        wait_until(lambda: prometheus.firing("DcmonAggregatorBlind"), timeout_s=40, interval_s=0.5)
        assert not prometheus.query(center_alerts)

        def blind_alert_active_in_alertmanager() -> bool:
            return any(
                a["labels"]["alertname"] == "DcmonAggregatorBlind"
                and a["status"]["state"] == "active"
                for a in stack.alertmanager.alerts()
            )

        wait_until(blind_alert_active_in_alertmanager, timeout_s=30, interval_s=0.5)
    finally:
        stack.broker.start()
    wait_until(
        lambda: stack.prometheus.query('dcmon_broker_connected{job="dcmon"} == 1'),
        timeout_s=40,
        interval_s=0.5,
    )

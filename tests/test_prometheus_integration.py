"""The real thing: simulated agents → mosquitto → aggregator → Prometheus (rules) → Alertmanager
→ a webhook receiver that counts the notifications a person would get."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.dashboard_queries import prometheus_queries, variable_queries
from tests.monitoring_stack import (
    Alertmanager,
    Daemon,
    Notification,
    Prometheus,
    WebhookReceiver,
    http_json,
    http_text,
)
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
    webhook: WebhookReceiver

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

    def wait_quiet(self) -> None:
        """Until every center is connected again and only the Watchdog fires (a clean start)."""
        wait_until(
            lambda: (
                self.prometheus.query('dcmon_federation_centers{status="connected"} == 72')
                and not self.prometheus.query(
                    'ALERTS{alertstate="firing", alertname!~"DcmonWatchdog|DcmonAggregatorAbsent"}'
                )
            ),
            timeout_s=90,
            interval_s=0.5,
        )

    def notified(self, since: int) -> list[Notification]:
        """Notifications of firing alerts to people (not the dead man's switch) since a mark."""
        return [
            n
            for n in self.webhook.notifications(since)
            if n.receiver != "deadmans-switch" and any(a["status"] == "firing" for a in n.alerts)
        ]

    def firing_count(self, alertname: str) -> int:
        """How many alerts named ``alertname`` Prometheus has firing."""
        return len(self.prometheus.firing(alertname))

    def incidents_of(self, center: str) -> set[str]:
        """The open incidents ``center`` is part of, from the aggregator's metrics."""
        return {
            series["metric"]["incident"]
            for series in self.prometheus.query(f'dcmon_center_incident{{center="{center}"}}')
        }

    def incidents(self) -> dict[str, str]:
        """The open incidents the aggregator exports: id -> summary."""
        return {
            series["metric"]["incident"]: series["metric"]["summary"]
            for series in self.prometheus.query("dcmon_incident_info")
        }

    def outage(self, faults: list[str], settled: Callable[[], bool]) -> list[Notification]:
        """Inject ``faults`` into a quiet federation, wait until ``settled()`` (the alerts that
        would notify if nothing inhibited them are firing) and Alertmanager had time to send
        what it sends; heal; return the notifications to people meanwhile."""
        self.wait_quiet()
        mark = self.webhook.count()
        for fault in faults:
            self.inject(fault)
        try:
            wait_until(settled, timeout_s=90, interval_s=0.5)
            time.sleep(SETTLE_S)
            return self.notified(mark)
        finally:
            self.inject("heal")


SETTLE_S = 4.0
"""Alertmanager's test timers: group_wait 1 s, group_interval 2 s; plus a margin."""


def summary(notifications: list[Notification]) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(receiver, alertname, incidents)`` of each notification, sorted."""
    out = []
    for n in notifications:
        names = {a["labels"]["alertname"] for a in n.alerts}
        assert len(names) == 1, n.payload
        incidents = tuple(sorted({a["labels"].get("incident", "") for a in n.alerts}))
        out.append((n.receiver, names.pop(), incidents))
    return sorted(out)


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    """The receiver every Alertmanager webhook posts to (a real HTTP server on port 0)."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, webhook: WebhookReceiver) -> Iterator[Stack]:
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
        alertmanager.start(webhook)
        prometheus.start(f"127.0.0.1:{aggregator.port}", f"127.0.0.1:{alertmanager.port}")
        running = Stack(broker, aggregator, federation, prometheus, alertmanager, webhook)

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
    assert not stack.prometheus.query('ALERTS{alertname=~"DcmonCenter.+|DcmonIncident"}')


def test_a_hub_down_is_one_notification_and_none_for_the_centers_it_degraded(
    stack: Stack,
) -> None:
    """hub-central down: one page for its incident, none for the 20 centers it degraded.

    While the failure settles (its agent's will can arrive before its neighbours' probes say it
    is unreachable) short-lived incidents may open and resolve: they page nobody, which the
    notification check below proves; the incident that stays is the hub's."""
    seen: dict[str, str] = {}

    def settled() -> bool:
        incidents = stack.incidents()
        seen.clear()
        seen.update(incidents)
        return (
            stack.firing_count("DcmonCenterRedundancyLost") >= 20
            and stack.firing_count("DcmonCenterNotConnected") >= 1
            and len(stack.prometheus.firing("DcmonIncident")) == len(incidents) == 1
        )

    notified = stack.outage(["down hub-central"], settled)
    ((incident, sentence),) = seen.items()
    assert sentence.startswith("hub-central is down: 20 centers lost redundancy")
    assert summary(notified) == [("noc-regional-pager", "DcmonIncident", (incident,))]


def test_a_partitioned_region_is_one_notification_naming_the_region(stack: Stack) -> None:
    """Region central cut off: one page naming the region; its center and link alerts muted."""
    seen: dict[str, str] = {}
    muted: list[dict[str, Any]] = []

    def settled() -> bool:
        seen.update(stack.incidents())
        if not (
            stack.firing_count("DcmonCenterNotConnected") >= 22
            and stack.firing_count("DcmonLinkDown") >= 2
            and stack.firing_count("DcmonFederationPartitioned") >= 1
            and stack.prometheus.firing("DcmonIncident")
        ):
            return False
        muted[:] = [
            a
            for a in stack.alertmanager.alerts()
            if a["labels"]["alertname"] in ("DcmonCenterNotConnected", "DcmonLinkDown")
            and a["status"]["state"] == "suppressed"
        ]
        return len(muted) >= 24

    notified = stack.outage(["partition central"], settled)
    ((incident, sentence),) = {i: s for i, s in seen.items() if "cut off" in s}.items()
    assert sentence.startswith("region central is cut off")
    assert summary(notified) == [("noc-national-pager", "DcmonIncident", (incident,))]
    assert {a["labels"]["incident"] for a in muted} == {incident}


def test_a_redundant_link_cut_notifies_nobody(stack: Stack) -> None:
    """A link whose loss cuts nobody off (an info incident) notifies nobody, though alerts fire."""
    prometheus = stack.prometheus

    def settled() -> bool:
        link = prometheus.firing("DcmonLinkDown")
        incidents = prometheus.firing("DcmonIncident")
        return any((a["a"], a["b"]) == ("hub-south", "ndc-south") for a in link) and [
            a["severity"] for a in incidents
        ] == ["info"]

    assert stack.outage(["cut hub-south ndc-south"], settled) == []


def test_two_independent_outages_are_two_notifications(stack: Stack) -> None:
    """hub-central and, far away, prov-ca-mau down at once: two incidents, two pages."""
    seen: dict[str, set[str]] = {}

    def settled() -> bool:
        for center in ("hub-central", "prov-ca-mau"):
            seen[center] = stack.incidents_of(center)
        critical = [
            a for a in stack.prometheus.firing("DcmonIncident") if a["severity"] == "critical"
        ]
        return (
            len(critical) == 2
            and stack.firing_count("DcmonCenterRedundancyLost") >= 20
            and stack.firing_count("DcmonCenterNotConnected") >= 2
        )

    notified = stack.outage(["down hub-central", "down prov-ca-mau"], settled)
    (hub,), (province,) = seen["hub-central"], seen["prov-ca-mau"]
    assert hub != province
    assert summary(notified) == [
        ("noc-regional-pager", "DcmonIncident", (incident,)) for incident in sorted((hub, province))
    ]


def test_a_link_flapping_for_a_minute_notifies_once_not_once_per_flap(stack: Stack) -> None:
    """A link failing and recovering every 4 s for 60 s is one incident and one ticket."""
    started = time.monotonic()
    flaps: list[float] = []
    incidents: set[str] = set()

    def a_minute_of_flapping() -> bool:
        flaps.extend(
            float(series["value"][1]) for series in stack.prometheus.query("dcmon_incident_flaps")
        )
        incidents.update(stack.incidents_of("prov-da-nang"))
        return time.monotonic() - started >= 60

    notified = stack.outage(["flap prov-da-nang hub-central"], a_minute_of_flapping)
    assert max(flaps, default=0.0) >= 3  # it really flapped ...
    (incident,) = incidents  # ... as one incident
    assert len(notified) <= 1
    assert summary(notified) == [("noc-regional-tickets", "DcmonIncident", (incident,))]


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
        json.dumps([rule.get("expr", ""), rule.get("annotations", {})])
        for path in sorted((REPO / "config" / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    )
    # Metric names, not template references such as {{ $externalLabels.dcmon_url }}.
    used = set(re.findall(r"(?<!\.)\b(dcmon_[a-z0-9_]+)\b", rules))
    assert {"dcmon_incident_info", "dcmon_center_incident", "dcmon_link_incident"} <= used
    assert used <= exported, used - exported


def test_a_lost_broker_raises_only_the_blind_alert_and_no_center_page(stack: Stack) -> None:
    """Killing the broker fires DcmonAggregatorBlind; no center is declared not connected."""
    center_alerts = 'ALERTS{alertname=~"DcmonCenter.+|DcmonIncident"}'
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

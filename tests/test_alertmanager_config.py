"""Alertmanager configuration: amtool-clean, routes by severity and tier, inhibition as designed
(checked in the file and on a real Alertmanager counting the notifications it sends)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO
from tests.monitoring_stack import Alertmanager, Notification, WebhookReceiver
from tests.services import wait_until

CONFIG = REPO / "config" / "alertmanager" / "alertmanager.yml"


def amtool() -> str:
    """The real amtool binary (Debian package prometheus-alertmanager)."""
    found = shutil.which("amtool") or "/usr/bin/amtool"
    assert Path(found).exists(), "amtool is not installed (apt-get install prometheus-alertmanager)"
    return found


def routed_receivers(*labels: str) -> list[str]:
    """The receivers `amtool config routes test` picks for an alert with these labels."""
    result = subprocess.run(
        [amtool(), "config", "routes", "test", f"--config.file={CONFIG}", *labels],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def config() -> dict[str, Any]:
    """The parsed alertmanager.yml."""
    loaded: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return loaded


def test_config_passes_amtool_check() -> None:
    """`amtool check-config` accepts the shipped configuration."""
    result = subprocess.run(
        [amtool(), "check-config", str(CONFIG)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (
            ("alertname=DcmonIncident", "severity=critical", "tier=national"),
            "noc-national-pager",
        ),
        (("alertname=DcmonIncident", "severity=critical", "tier=hpc"), "noc-national-pager"),
        (
            ("alertname=DcmonIncident", "severity=critical", "tier=regional"),
            "noc-regional-pager",
        ),
        (
            ("alertname=DcmonIncident", "severity=critical", "tier=provincial"),
            "noc-regional-pager",
        ),
        (
            ("alertname=DcmonIncident", "severity=warning", "tier=national"),
            "noc-national-tickets",
        ),
        (
            ("alertname=DcmonIncident", "severity=warning", "tier=provincial"),
            "noc-regional-tickets",
        ),
        (("alertname=DcmonIncident", "severity=info", "tier=national"), "blackhole"),
        (("alertname=DcmonIncident", "severity=info", "tier=provincial"), "blackhole"),
        (("alertname=DcmonAggregatorBlind", "severity=critical"), "noc-national-pager"),
        (
            ("alertname=DcmonCenterNotConnected", "severity=critical", "tier=national"),
            "noc-national-pager",
        ),
        (
            ("alertname=DcmonCenterNotConnected", "severity=critical", "tier=hpc"),
            "noc-national-pager",
        ),
        (
            ("alertname=DcmonCenterNotConnected", "severity=critical", "tier=provincial"),
            "noc-regional-pager",
        ),
        (
            ("alertname=DcmonCenterAgentStale", "severity=warning", "tier=hpc"),
            "noc-national-tickets",
        ),
        (
            ("alertname=DcmonCenterAgentStale", "severity=warning", "tier=regional"),
            "noc-regional-tickets",
        ),
        (
            ("alertname=DcmonCenterAgentStale", "severity=warning", "tier=provincial"),
            "noc-regional-tickets",
        ),
        (("alertname=DcmonLinkLossy", "severity=warning"), "noc-national-tickets"),
        (("alertname=DcmonWatchdog", "severity=none"), "deadmans-switch"),
    ],
)
def test_alerts_route_by_severity_and_tier(labels: tuple[str, ...], receiver: str) -> None:
    """Critical pages, warning tickets, info nowhere; national/HPC vs regional/provincial NOC."""
    assert routed_receivers(*labels) == [receiver]


def test_the_blackhole_receiver_never_notifies() -> None:
    """The receiver of info incidents has no integration at all."""
    (blackhole,) = [r for r in config()["receivers"] if r["name"] == "blackhole"]
    assert set(blackhole) == {"name"}


def test_blind_aggregator_inhibits_every_center_link_and_federation_alert() -> None:
    """While the aggregator is blind, its center, link and federation alerts are muted."""
    rules = config()["inhibit_rules"]
    blind = [r for r in rules if r["source_matchers"] == ['alertname="DcmonAggregatorBlind"']]
    assert len(blind) == 1
    assert blind[0]["equal"] == ["job", "instance"]
    pattern = blind[0]["target_matchers"][0].split("=~", 1)[1].strip('"')
    for name in (
        "DcmonIncident",
        "DcmonCenterNotConnected",
        "DcmonCenterAgentStale",
        "DcmonCenterRedundancyLost",
        "DcmonLinkDown",
        "DcmonLinkAsymmetric",
        "DcmonLinkLossy",
        "DcmonFederationPartitioned",
        "DcmonFederationConnectedRatioLow",
        "DcmonFederationCapacityLow",
    ):
        assert re.fullmatch(pattern, name), name
    for name in ("DcmonAggregatorBlind", "DcmonAggregatorAbsent", "DcmonWatchdog"):
        assert not re.fullmatch(pattern, name), name


def test_an_incident_inhibits_its_center_and_link_alerts_by_incident_label() -> None:
    """DcmonIncident mutes every center and link alert of the same aggregator and incident."""
    rules = config()["inhibit_rules"]
    by_incident = [r for r in rules if r["source_matchers"] == ['alertname="DcmonIncident"']]
    assert len(by_incident) == 1
    assert by_incident[0]["equal"] == ["job", "instance", "incident"]
    pattern = by_incident[0]["target_matchers"][0].split("=~", 1)[1].strip('"')
    for name in (
        "DcmonCenterNotConnected",
        "DcmonCenterAgentStale",
        "DcmonCenterRedundancyLost",
        "DcmonLinkDown",
        "DcmonLinkAsymmetric",
        "DcmonLinkLossy",
    ):
        assert re.fullmatch(pattern, name), name
    for name in ("DcmonIncident", "DcmonAggregatorBlind", "DcmonWatchdog"):
        assert not re.fullmatch(pattern, name), name


# --- on a real Alertmanager --------------------------------------------------------------------

AGGREGATOR = {"job": "dcmon", "instance": "agg:9108"}
SETTLE_S = 2.5
"""Longer than a group_interval (2 s) of the test timers, after the first flush."""


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[tuple[Alertmanager, WebhookReceiver]]:
    """The shipped Alertmanager configuration, running, its webhooks posting to a receiver."""
    with WebhookReceiver() as receiver:
        manager = Alertmanager(tmp_path / "alertmanager")
        try:
            manager.start(receiver)
            yield manager, receiver
        finally:
            manager.stop()


def alert(name: str, severity: str, **labels: str) -> dict[str, str]:
    """The label set of one alert of the test aggregator."""
    return {"alertname": name, "severity": severity, **AGGREGATOR, **labels}


def delivered(receiver: WebhookReceiver, control: str) -> list[Notification]:
    """Every notification once the ``control`` alert's has arrived and the rest had time to."""
    wait_until(
        lambda: any(n.firing(control) for n in receiver.notifications()),
        timeout_s=20,
        interval_s=0.1,
    )
    time.sleep(SETTLE_S)
    return [n for n in receiver.notifications() if not n.firing(control)]


def summary(notifications: list[Notification]) -> list[tuple[str, str, tuple[str, ...]]]:
    """``(receiver, alertname, centers or incidents)`` per notification, sorted."""
    out = []
    for n in notifications:
        names = {a["labels"]["alertname"] for a in n.alerts}
        assert len(names) == 1, n.payload
        keys = tuple(
            sorted(a["labels"].get("center") or a["labels"].get("incident", "") for a in n.alerts)
        )
        out.append((n.receiver, names.pop(), keys))
    return sorted(out)


def test_a_hub_down_notifies_once_and_none_of_the_centers_it_degraded(
    alertmanager: tuple[Alertmanager, WebhookReceiver],
) -> None:
    """One page for the incident, none for what it explains; unexplained centers still notify."""
    manager, receiver = alertmanager
    incident = {"incident": "inc-12"}
    manager.post(
        alert("DcmonIncident", "critical", tier="regional", **incident),
        alert(
            "DcmonCenterNotConnected", "critical", tier="regional", center="hub-central", **incident
        ),
        *(
            alert("DcmonCenterRedundancyLost", "warning", tier="provincial", center=c, **incident)
            for c in ("prov-hue", "prov-quang-nam", "prov-quang-tri")
        ),
        alert("DcmonFederationConnectedRatioLow", "warning", tier="regional"),
        # Not explained by a firing incident: these must still notify.
        alert(
            "DcmonCenterNotConnected",
            "critical",
            tier="provincial",
            center="prov-ca-mau",
            incident="inc-13",
        ),
        alert("DcmonCenterNotConnected", "critical", tier="provincial", center="prov-bac-lieu"),
        alert("DcmonLinkLossy", "warning", a="hub-south", b="prov-an-giang"),
    )
    notified = delivered(receiver, "DcmonLinkLossy")
    assert summary(notified) == [
        ("noc-regional-pager", "DcmonCenterNotConnected", ("prov-bac-lieu",)),
        ("noc-regional-pager", "DcmonCenterNotConnected", ("prov-ca-mau",)),
        ("noc-regional-pager", "DcmonIncident", ("inc-12",)),
    ]
    muted = [a for a in manager.alerts() if a["status"]["state"] == "suppressed"]
    assert len(muted) == 5
    assert all(a["status"]["inhibitedBy"] for a in muted)


def test_an_info_incident_notifies_nobody_and_mutes_its_link_alert(
    alertmanager: tuple[Alertmanager, WebhookReceiver],
) -> None:
    """A redundant link cut (an info incident) and its DcmonLinkDown send no notification."""
    manager, receiver = alertmanager
    manager.post(
        alert("DcmonIncident", "info", tier="national", incident="inc-5"),
        alert("DcmonLinkDown", "warning", a="hub-south", b="ndc-south", incident="inc-5"),
        alert("DcmonLinkLossy", "warning", a="hub-south", b="prov-an-giang"),
    )
    assert delivered(receiver, "DcmonLinkLossy") == []


def test_two_independent_incidents_are_two_notifications(
    alertmanager: tuple[Alertmanager, WebhookReceiver],
) -> None:
    """Two critical incidents page twice, one group each, routed by their tier."""
    manager, receiver = alertmanager
    manager.post(
        alert("DcmonIncident", "critical", tier="national", incident="inc-20"),
        alert("DcmonIncident", "critical", tier="provincial", incident="inc-21"),
        alert("DcmonLinkLossy", "warning", a="hub-south", b="prov-an-giang"),
    )
    assert summary(delivered(receiver, "DcmonLinkLossy")) == [
        ("noc-national-pager", "DcmonIncident", ("inc-20",)),
        ("noc-regional-pager", "DcmonIncident", ("inc-21",)),
    ]


def test_a_blind_aggregator_mutes_its_open_incidents(
    alertmanager: tuple[Alertmanager, WebhookReceiver],
) -> None:
    """While the aggregator is blind, only DcmonAggregatorBlind notifies, not its incidents."""
    manager, receiver = alertmanager
    manager.post(
        alert("DcmonAggregatorBlind", "critical"),
        alert("DcmonIncident", "critical", tier="national", incident="inc-30"),
    )
    notified = delivered(receiver, "DcmonAggregatorBlind")
    assert notified == []

"""Alertmanager configuration: amtool-clean, routes by severity and tier, inhibition as designed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

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
        (("alertname=DcmonRootCause", "severity=critical"), "noc-national-pager"),
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
            ("alertname=DcmonCenterAgentStale", "severity=warning", "tier=regional"),
            "noc-national-tickets",
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
    """Critical alerts page and warnings open tickets, at the NOC responsible for the tier."""
    assert routed_receivers(*labels) == [receiver]


def test_blind_aggregator_inhibits_every_center_link_and_federation_alert() -> None:
    """While the aggregator is blind, its center, link and federation alerts are muted."""
    rules = config()["inhibit_rules"]
    blind = [r for r in rules if r["source_matchers"] == ['alertname="DcmonAggregatorBlind"']]
    assert len(blind) == 1
    assert blind[0]["equal"] == ["job", "instance"]
    pattern = blind[0]["target_matchers"][0].split("=~", 1)[1].strip('"')
    for name in (
        "DcmonCenterNotConnected",
        "DcmonCenterAgentStale",
        "DcmonCenterRedundancyLost",
        "DcmonRootCause",
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


def test_root_cause_inhibits_the_alerts_it_explains_by_root_cause_label() -> None:
    """A root-cause alert mutes the unreachable-center alerts carrying the same root_cause."""
    rules = config()["inhibit_rules"]
    root = [r for r in rules if r["source_matchers"] == ['alertname="DcmonRootCause"']]
    assert len(root) == 1
    assert root[0]["equal"] == ["root_cause"]
    assert "DcmonCenterNotConnected" in root[0]["target_matchers"][0]

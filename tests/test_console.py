"""Operator commands against an aggregator: clear one-line errors and readable tables."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.commands.capacity import render_capacity
from monitor.commands.incidents import render_incidents
from monitor.commands.links import render_links
from monitor.commands.status import render_status
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto, free_port

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def dcmon(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["capacity"],
        ["capacity", "--resource", "gpus", "--min", "4"],
        ["fault", "heal"],
        ["incidents"],
        ["incidents", "--all", "--json"],
        ["links"],
    ],
)
def test_a_dead_url_gives_one_clear_line_and_exit_1(args: list[str]) -> None:
    """Nothing listening at --url: one line saying so, exit status 1, no traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    result = dcmon(*args, "--url", url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot reach {url}" in lines[0]
    assert result.stdout == ""


def test_status_table_lists_problems_first_with_why() -> None:
    """The status table puts down centers first, with their why, and counts the connected."""
    centers = [
        {"id": "a", "status": "connected", "connected": True, "tier": "national", "region": "n"},
        {
            "id": "b",
            "status": "degraded",
            "connected": True,
            "tier": "provincial",
            "region": "n",
            "why": "over a bridge",
        },
        {
            "id": "c",
            "status": "down",
            "connected": False,
            "tier": "regional",
            "region": "s",
            "why": "c is down",
        },
    ]
    text = render_status(centers, show_all=False)
    lines = text.splitlines()
    assert lines[0] == "3 centers: 1 connected, 1 degraded, 1 down — 66.7 % connected"
    assert lines[1] == "connected by tier: national 1/1, regional 0/1, provincial 1/1"
    assert lines[3].split() == ["STATUS", "CENTER", "TIER", "REGION", "WHY"]
    assert lines[4].startswith("down")
    assert lines[4].endswith("c is down")
    assert "1 connected centers not listed" in text


def test_capacity_table_shows_available_of_total_by_tier() -> None:
    """Capacity renders available / total per tier with human units."""
    answer = {
        "by_tier": {
            "hpc": {
                "gpus": {"available": 10, "total": 64},
                "storage_bytes": {"available": 2e15, "total": 5e15},
            }
        },
        "all": {"gpus": {"available": 10, "total": 64}},
    }
    text = render_capacity(answer, None)
    assert "10 / 64" in text
    assert "2.0 PB / 5.0 PB" in text
    assert text.splitlines()[-1].startswith("all")


HUB_DOWN: dict[str, Any] = {
    "id": "inc-7",
    "state": "open",
    "kind": "center",
    "severity": "critical",
    "tier": "regional",
    "summary": "hub-central is down: 2 centers lost redundancy, 1 lost the core",
    "elements": {"centers": ["hub-central"], "links": []},
    "victims": [
        {"center": "hub-central", "status": "down", "tier": "regional"},
        {"center": "prov-a", "status": "isolated", "tier": "provincial"},
        {"center": "prov-b", "status": "degraded", "tier": "provincial"},
        {"center": "prov-c", "status": "degraded", "tier": "provincial"},
    ],
    "impact": {
        "victims_by_status": {"degraded": 2, "down": 1, "isolated": 1},
        "victims_by_tier": {"provincial": 3, "regional": 1},
        "capacity_unreachable": {"gpus": 16.0, "storage_bytes": 2e15},
        "capacity_at_risk": {"cpu_cores": 1200.0},
    },
    "opened_at": 1000.0,
    "updated_at": 1010.0,
    "resolved_at": None,
    "flaps": 0,
}
REDUNDANT_LINK: dict[str, Any] = {
    **HUB_DOWN,
    "id": "inc-9",
    "kind": "link",
    "severity": "info",
    "summary": "the link x--y is down: nobody lost anything yet (redundant)",
    "elements": {"centers": [], "links": [{"a": "x", "b": "y"}]},
    "victims": [],
    "impact": {
        "victims_by_status": {},
        "victims_by_tier": {},
        "capacity_unreachable": {},
        "capacity_at_risk": {},
    },
    "opened_at": 900.0,
}
FLAPPED: dict[str, Any] = {
    **REDUNDANT_LINK,
    "id": "inc-3",
    "state": "resolved",
    "summary": "the link p--q is down: 1 center lost redundancy, 0 lost the core",
    "severity": "warning",
    "opened_at": 100.0,
    "resolved_at": 3820.0,
    "flaps": 4,
}


def test_incidents_lists_the_worst_first_with_age_victims_and_capacity_cut_off() -> None:
    """Open incidents come critical first, each with its age on the aggregator's clock, its
    victims and, under its summary, the capacity unreachable and at risk."""
    answer = {"evaluated_at": 1185.0, "incidents": [REDUNDANT_LINK, HUB_DOWN]}
    lines = render_incidents(answer, show_resolved=False).splitlines()
    assert lines[0] == "2 open incidents: 1 critical, 1 info"
    assert lines[1].split() == ["ID", "SEVERITY", "KIND", "AGE", "VICTIMS", "FLAPS", "SUMMARY"]
    assert lines[2].split()[:7] == ["inc-7", "critical", "center", "3m", "05s", "4", "0"]
    assert lines[2].endswith(HUB_DOWN["summary"])
    column = lines[1].index("SUMMARY")
    assert lines[3] == " " * column + "capacity unreachable: 16 GPUs, 2.0 PB storage"
    assert lines[4] == " " * column + "capacity at risk: 1,200 cores"
    assert lines[5].split()[:3] == ["inc-9", "info", "link"]
    assert len(lines) == 6


def test_incidents_all_adds_the_resolved_with_duration_and_flaps() -> None:
    """--all lists the recently resolved after the open ones: when, how long, how often."""
    answer = {"evaluated_at": 3900.0, "incidents": [FLAPPED]}
    text = render_incidents(answer, show_resolved=True)
    lines = text.splitlines()
    assert lines[0] == "no open incidents"
    assert lines[2] == "1 recently resolved:"
    assert lines[3].split() == ["ID", "SEVERITY", "KIND", "RESOLVED", "LASTED", "FLAPS", "SUMMARY"]
    assert lines[4].split()[:8] == ["inc-3", "warning", "link", "1m", "20s", "ago", "1h", "02m"]
    assert lines[4].split()[8] == "4"
    assert "recently resolved" not in render_incidents(answer, show_resolved=False)


def _center(cid: str, status: str, incidents: list[str], why: str = "") -> dict[str, Any]:
    return {
        "id": cid,
        "status": status,
        "connected": status in ("connected", "degraded", "stale"),
        "tier": "provincial",
        "region": "central",
        "why": why,
        "incidents": incidents,
    }


def test_status_groups_centers_under_their_incident() -> None:
    """Not-connected centers appear under a heading naming their incident (worst first), the
    ones in no incident last under their own heading; columns stay aligned throughout."""
    centers = [
        _center("hub-central", "down", ["inc-7"], "hub-central is down (inc-7)"),
        _center("prov-a", "isolated", ["inc-7"]),
        _center("prov-b", "degraded", ["inc-7"]),
        _center("prov-z", "stale", ["inc-8"]),
        _center("prov-q", "degraded", []),
        _center("ok", "connected", []),
    ]
    agent = {**REDUNDANT_LINK, "id": "inc-8", "kind": "agent", "severity": "warning"}
    agent["summary"] = "prov-z's agent is silent"
    lines = render_status(centers, show_all=False, incidents=[agent, HUB_DOWN]).splitlines()
    lines = lines[1:]  # the count per tier
    assert lines[2].split() == ["STATUS", "CENTER", "TIER", "REGION", "WHY"]
    assert lines[3] == f"inc-7 (critical, center): {HUB_DOWN['summary']}"
    assert [line.split()[1] for line in lines[4:7]] == ["hub-central", "prov-a", "prov-b"]
    assert lines[7] == "inc-8 (warning, agent): prov-z's agent is silent"
    assert lines[8].split()[:2] == ["stale", "prov-z"]
    assert lines[9] == "not part of an incident:"
    assert lines[10].split()[:2] == ["degraded", "prov-q"]
    assert {line.index("provincial") for line in lines[4:11] if line.startswith("  ")} == {
        lines[2].index("TIER")
    }


def test_links_lists_those_not_up_with_their_incident() -> None:
    """Down links first, each with its incident: its own, or a down end's (named)."""
    links: list[dict[str, Any]] = [
        {"a": "a", "b": "b", "state": "up", "rtt_s": 0.002, "loss_ratio": 0.0},
        {"a": "x", "b": "y", "state": "down", "incident": "inc-9", "loss_ratio": 1.0},
        {"a": "hub-central", "b": "prov-a", "state": "down", "incident": None},
        {"a": "c", "b": "d", "state": "asymmetric", "rtt_s": 0.0125, "loss_ratio": 0.5},
    ]
    lines = render_links(links, show_all=False, incidents=[HUB_DOWN]).splitlines()
    assert lines[0] == "4 links: 1 up, 2 down, 1 asymmetric"
    assert lines[2].split() == ["STATE", "LINK", "INCIDENT", "RTT", "MS", "LOSS", "%", "GBPS"]
    assert lines[3].split()[:4] == ["down", "hub-central--prov-a", "inc-7", "(hub-central"]
    assert lines[4].split()[:3] == ["down", "x--y", "inc-9"]
    assert lines[5].split() == ["asymmetric", "c--d", "-", "12.5", "50.0", "-"]
    assert len(lines) == 6


@pytest.mark.integration
async def test_console_commands_show_a_hub_down_as_one_incident(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Against a live aggregator with ndc-b down: `dcmon incidents` shows one critical incident,
    `dcmon status` groups its victims under it, `dcmon links` names it for ndc-b's links."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: "unknown" not in live.statuses().values())
            await agents.fail("ndc-b")
            await eventually(
                lambda: (
                    [i["kind"] for i in live.json("/api/v1/incidents")["incidents"]] == ["center"]
                )
            )
            await eventually(
                lambda: (
                    {c: s for c, s in live.statuses().items() if c != "prov-d"}
                    == {"ndc-a": "connected", "ndc-b": "down", "prov-c": "degraded"}
                )
            )
            incidents, status, links = await asyncio.gather(
                asyncio.to_thread(dcmon, "incidents", "--url", live.url),
                asyncio.to_thread(dcmon, "status", "--url", live.url),
                asyncio.to_thread(dcmon, "links", "--url", live.url),
            )
            [incident] = live.json("/api/v1/incidents")["incidents"]
    assert incidents.returncode == 0, incidents.stderr
    assert incidents.stdout.splitlines()[0] == "1 open incident: 1 critical"
    assert incidents.stdout.splitlines()[2].split()[:3] == [incident["id"], "critical", "center"]
    assert status.returncode == 0, status.stderr
    heading = f"{incident['id']} (critical, center): {incident['summary']}"
    lines = status.stdout.splitlines()
    at = lines.index(heading)
    assert {line.split()[1] for line in lines[at + 1 : at + 4]} == {"ndc-b", "prov-c", "prov-d"}
    assert links.returncode == 0, links.stderr
    assert f"{incident['id']} (ndc-b down)" in links.stdout

"""Operator commands against an aggregator: clear one-line errors and readable tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.commands.capacity import render_capacity
from monitor.commands.status import render_status
from tests.services import free_port

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["capacity"],
        ["capacity", "--resource", "gpus", "--min", "4"],
        ["fault", "heal"],
    ],
)
def test_a_dead_url_gives_one_clear_line_and_exit_1(args: list[str]) -> None:
    """Nothing listening at --url: one line saying so, exit status 1, no traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args, "--url", url],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
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
    assert lines[2].split() == ["STATUS", "CENTER", "TIER", "REGION", "WHY"]
    assert lines[3].startswith("down")
    assert lines[3].endswith("c is down")
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

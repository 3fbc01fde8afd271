"""Aggregator configuration: every mistake is one line naming the file, field or flag."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agents.errors import ConfigError
from monitor.config import parse_aggregator_config
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"instance": "Agg 1"}, "agg.yaml: instance: 'Agg 1' is not a valid instance id"),
        ({"listen": "9108"}, "agg.yaml: listen: '9108' is not HOST:PORT"),
        ({"broker": "http://x"}, "the scheme must be mqtt:// or mqtts://"),
        ({"heartbeat_misses": 0}, "agg.yaml: heartbeat_misses: expected an integer >= 1"),
        ({"colour": "red"}, "agg.yaml: colour: unknown key"),
        ({"auto_register": True}, "agg.yaml: auto_register: auto-registration is not supported"),
        (
            {
                "maintenance": [
                    {
                        "center": "hub-north",
                        "start": "2025-01-01T00:00:00",
                        "end": "2025-01-01T01:00:00+07:00",
                    }
                ]
            },
            "agg.yaml: maintenance[0].start: needs a UTC offset",
        ),
    ],
)
def test_bad_aggregator_config_names_the_field(doc: dict[str, object], expected: str) -> None:
    """A bad value raises one ConfigError naming file and field."""
    with pytest.raises(ConfigError) as info:
        parse_aggregator_config(doc, "agg.yaml")
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--broker", "ftp://x"], "--broker: 'ftp://x': the scheme must be mqtt:// or mqtts://"),
        (["--listen", "nonsense"], "--listen: 'nonsense' is not HOST:PORT"),
        (
            ["--topology", "/nonexistent/topology.yaml"],
            "/nonexistent/topology.yaml: file not found",
        ),
        (["--heartbeat-misses", "0"], "--heartbeat-misses: must be at least 1"),
    ],
)
def test_bad_aggregator_flags_exit_1_with_one_line(flags: list[str], expected: str) -> None:
    """`dcmon aggregator` with a bad flag prints one line naming it and exits 1, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "aggregator", *flags],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]


def test_shipped_aggregator_example_is_valid() -> None:
    """The shipped example aggregator config passes check-config."""
    path = REPO / "config" / "aggregator.example.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "aggregator config: instance aggregator" in result.stdout

"""Shared fixtures: real services on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent_harness import AgentProcesses, agent_processes
from tests.services import Mosquitto

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A private mosquitto broker for one test, on its own free port."""
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def registry_path() -> Path:
    """The shipped sample federation."""
    return REPO / "config" / "topology.yaml"


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentProcesses]:
    """Real ``python -m agents`` processes, killed at the end of the test."""
    with agent_processes(tmp_path / "agents") as procs:
        yield procs

"""What a center operator sees: `dcmon-agent --once` on a new install, an unregistered center
named as such, broker trouble at WARNING with the backoff, unreachable peers once per change."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agents.broker import parse_broker_url
from agents.probe import PeerAddress, Prober, ProbeResponder
from agents.session import CenterSession, SessionTiming
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.services import Mosquitto, free_port

REPO = Path(__file__).resolve().parent.parent
STATIC = '{"gpus": {"total": 8, "available": 3}}'


def agent_once(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m agents --once ARGS``."""
    return subprocess.run(
        [sys.executable, "-m", "agents", "--once", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def printed_messages(stdout: str) -> dict[str, dict[str, Any]]:
    """Topic → JSON payload, from the --once output."""
    out: dict[str, dict[str, Any]] = {}
    blocks = stdout.split("\n\n")
    for block in blocks:
        head, _, body = block.partition("\n")
        if head.startswith("dcmon/v1/centers/"):
            out[head.split()[0]] = json.loads(body)
    return out


@pytest.mark.integration
async def test_once_prints_what_it_would_publish_and_exits_0_when_ready(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """With a broker up, a peer answering and the aggregator knowing the center: the birth,
    the capacity and the link report are printed with their topics, and the exit status is 0."""
    peer = ProbeResponder("127.0.0.1", 0)
    await peer.start()
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    try:
        with LiveAggregator(config) as live:
            result = await asyncio.to_thread(
                agent_once,
                *("--center", "ndc-a", "--broker", mosquitto.url),
                *("--capacity-source", "static", "--static-capacity", STATIC),
                *("--peer", f"ndc-b=127.0.0.1:{peer.port}", "--check-aggregator", live.url),
            )
    finally:
        await peer.close()
    assert result.returncode == 0, result.stderr
    messages = printed_messages(result.stdout)
    assert set(messages) == {
        "dcmon/v1/centers/ndc-a/state",
        "dcmon/v1/centers/ndc-a/capacity",
        "dcmon/v1/centers/ndc-a/links",
    }
    assert messages["dcmon/v1/centers/ndc-a/state"]["status"] == "online"
    assert messages["dcmon/v1/centers/ndc-a/capacity"]["gpus"] == {"total": 8, "available": 3}
    [probe] = messages["dcmon/v1/centers/ndc-a/links"]["probes"]
    assert probe["peer"] == "ndc-b"
    assert probe["reachable"] is True
    assert f"broker {mosquitto.url}: answers" in result.stdout
    assert "knows ndc-a (status unknown)" in result.stdout


@pytest.mark.integration
async def test_once_names_every_problem_in_one_line_each_and_exits_1(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """An unregistered center, a dead broker and a peer that does not answer: one line each,
    saying what is wrong, and exit status 1."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    dead_broker = f"mqtt://127.0.0.1:{free_port()}"
    with LiveAggregator(config) as live:
        result = await asyncio.to_thread(
            agent_once,
            *("--center", "ndc-x", "--broker", dead_broker),
            *("--capacity-source", "static", "--static-capacity", STATIC),
            *("--peer", f"ndc-a=127.0.0.1:{free_port()}", "--check-aggregator", live.url),
        )
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("dcmon-agent:")]
    assert len(problems) == 3, result.stderr
    assert problems[0] == "dcmon-agent: peer ndc-a is unreachable (connection refused)"
    assert problems[1] == (
        f"dcmon-agent: the broker {dead_broker} cannot be reached (connection refused)"
    )
    assert problems[2] == (
        f"dcmon-agent: the aggregator at {live.url} does not know center 'ndc-x': it drops "
        "everything this agent publishes; add the center to its registry (topology.yaml) and "
        "reload it"
    )
    assert "Traceback" not in result.stderr


def test_check_aggregator_needs_once() -> None:
    """--check-aggregator alone is a mistake, said in one line (exit 2, like any bad flag)."""
    result = subprocess.run(
        [sys.executable, "-m", "agents", "--center", "a", "--check-aggregator", "http://x"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == "dcmon-agent: --check-aggregator: needs --once as well\n"


async def test_an_unreachable_broker_is_a_warning_with_the_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each failed attempt is one WARNING saying when the next one comes."""
    caplog.set_level(logging.INFO, logger="agents.session")
    broker = parse_broker_url(f"mqtt://127.0.0.1:{free_port()}")
    timing = SessionTiming(reconnect_base_s=0.05, reconnect_cap_s=0.1, broker_timeout_s=2)
    session = CenterSession(broker, "ndc-a", timing)
    stop = asyncio.Event()
    runner = asyncio.create_task(session.run(stop))
    while session.failures < 3:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(runner, 10)
    retries = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert len(retries) >= 3
    assert {r.levelno for r in retries} == {logging.WARNING}
    assert retries[0].getMessage().startswith(f"attempt 1: cannot reach broker {broker.url} (")


async def test_unreachable_peers_are_logged_once_per_change_with_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Three rounds with a peer down log it once (at INFO, with the reason); its recovery is
    one more line; nothing in between."""
    caplog.set_level(logging.INFO, logger="agents.probe")
    responder = ProbeResponder("127.0.0.1", 0)
    await responder.start()
    port = responder.port
    await responder.close()
    prober = Prober([PeerAddress("ndc-b", "127.0.0.1", port)], count=1, timeout_s=1)
    for _ in range(3):
        await prober()
    revived = ProbeResponder("127.0.0.1", port)
    await revived.start()
    try:
        for _ in range(3):
            await prober()
    finally:
        await revived.close()
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "agents.probe"]
    lines = [line for line in lines if not line[1].startswith("probe responder")]
    assert lines == [
        (logging.INFO, "probes: 1 of 1 peers unreachable: ndc-b (connection refused)"),
        (logging.INFO, "probes: all 1 peers reachable"),
    ]

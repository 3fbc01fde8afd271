"""Agent configuration: file plus flags, one-line errors, registry neighbours, light imports."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agents.agent import peer_addresses
from agents.cli import build_parser, load_config, main
from agents.config import parse_agent_config
from agents.errors import ConfigError
from agents.probe import PeerAddress
from tests.agent_harness import REPO, AgentProcesses, Recorder, is_state
from tests.services import Mosquitto, free_port


def config_from(argv: list[str]) -> object:
    """Parse flags the way ``dcmon-agent`` does."""
    return load_config(build_parser().parse_args(argv))


def test_center_and_broker_alone_are_a_complete_config() -> None:
    """``dcmon-agent --center ID --broker URL`` needs no file; everything else has defaults."""
    config = load_config(
        build_parser().parse_args(["--center", "hub-north", "--broker", "mqtt://b"])
    )
    assert (config.center, config.broker, config.heartbeat_interval_s) == (
        "hub-north",
        "mqtt://b",
        5,
    )
    assert (config.capacity.source, config.probe_port, config.effective_keepalive_s) == (
        "host",
        7471,
        10,
    )
    assert config.broker_address().port == 1883


def test_flags_override_the_file(tmp_path: Path) -> None:
    """Every flag wins over the same key in the file, nested capacity keys included."""
    path = tmp_path / "agent.yaml"
    path.write_text(
        "center: hub-north\nheartbeat_interval_s: 5\npeers: [{id: hub-south, host: h}]\n"
        "capacity: {source: command, command: [inventory], command_timeout_s: 3}\n"
    )
    config = load_config(
        build_parser().parse_args(
            ["--config", str(path), "--heartbeat-interval", "2", "--command-timeout", "7",
             "--peer", "hpc-north=10.0.0.9:9000", "--peer", "ndc-north=ndc.example"]
        )
    )  # fmt: skip
    assert config.heartbeat_interval_s == 2
    assert (config.capacity.source, config.capacity.command, config.capacity.command_timeout_s) == (
        "command",
        ("inventory",),
        7,
    )
    assert [(p.id, p.host, p.port) for p in config.peers] == [
        ("hpc-north", "10.0.0.9", 9000),
        ("ndc-north", "ndc.example", 7471),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "--center: required"),
        (["--center", "Hub_North"], "--center: 'Hub_North' is not a valid center id"),
        (["--center", "a", "--broker", "http://x"], "--broker: 'http://x': the scheme must be"),
        (
            ["--center", "a", "--heartbeat-interval", "0"],
            "--heartbeat-interval: expected a number > 0",
        ),
        (
            ["--center", "a", "--capacity-source", "slurmm"],
            "--capacity-source: 'slurmm' is not one of static, host, slurm, command",
        ),
        (["--center", "a", "--capacity-source", "command"], "capacity.command: required when"),
        (["--center", "a", "--capacity-source", "static"], "capacity.static: give at least one"),
        (["--center", "a", "--static-capacity", "{gpus: {total: 1}}"], "--static-capacity: "),
        (["--center", "a", "--peer", "hub-b"], "--peer: 'hub-b' is not ID=HOST[:PORT]"),
        (["--center", "a", "--peer", "a=h"], "--peer: an agent does not probe itself"),
        (["--center", "a", "--probe-port", "70000"], "--probe-port: expected an integer <= 65535"),
        (
            ["--center", "a", "--password-file", "/nonexistent/pw"],
            "/nonexistent/pw: cannot read password file",
        ),
        (
            ["--center", "a", "--broker", "mqtts://b", "--ca-file", "/nonexistent/ca.pem"],
            "--ca-file: /nonexistent/ca.pem: file not found",
        ),
        (
            ["--center", "a", "--topology", "/nonexistent/t.yaml"],
            "/nonexistent/t.yaml: file not found",
        ),
        (
            ["--center", "a", "--reconnect-cap", "0.1"],
            "--reconnect-cap: must not be less than reconnect_base_s",
        ),
    ],
)
def test_bad_values_end_in_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad flag value exits non-zero with one line naming the flag, never a traceback."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("dcmon-agent: ")
    assert message in err


def test_bad_file_values_name_the_file_and_field(tmp_path: Path) -> None:
    """A bad key in the file is reported as ``file: field: problem``."""
    path = tmp_path / "agent.yaml"
    path.write_text("center: hub-north\ncapacity: {source: host, storage_pth: /srv}\n")
    with pytest.raises(ConfigError, match=r"agent.yaml: capacity.storage_pth: unknown key"):
        config_from(["--config", str(path)])
    path.write_text("center: hub-north\nprobe_count: many\n")
    with pytest.raises(
        ConfigError, match=r"agent.yaml: probe_count: expected an integer, got a string"
    ):
        config_from(["--config", str(path)])


def test_the_process_prints_one_line_and_exits_non_zero(tmp_path: Path) -> None:
    """Run as a program, a bad config gives one stderr line and a non-zero exit."""
    path = tmp_path / "agent.yaml"
    path.write_text("center: hub-north\nheartbeat_interval_s: -5\n")
    result = subprocess.run(
        [sys.executable, "-m", "agents", "--config", str(path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"dcmon-agent: {path}: heartbeat_interval_s: expected a number > 0.0"
    ]


def test_example_config_passes_check_config() -> None:
    """The shipped example agent config is accepted by ``dcmon check-config``."""
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "config/agent.example.yaml"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "agent config: center hub-north" in result.stdout


def test_topology_gives_the_registry_neighbours(registry_path: Path) -> None:
    """``--topology`` probes every registry neighbour; an explicit peer keeps its address."""
    config = parse_agent_config(
        {
            "center": "hub-central",
            "topology": str(registry_path),
            "peer_host_template": "{id}.dc.example",
            "peers": [{"id": "ndc-north", "host": "10.0.0.1", "port": 9000}],
        },
        "test",
    )
    peers = peer_addresses(config)
    assert peers[0] == PeerAddress("ndc-north", "10.0.0.1", 9000)
    ids = [p.id for p in peers]
    assert len(ids) == len(set(ids)) > 3
    assert PeerAddress("ndc-south", "ndc-south.dc.example", 7471) in peers
    with pytest.raises(ConfigError, match="center 'nowhere' is not registered"):
        peer_addresses(
            parse_agent_config({"center": "nowhere", "topology": str(registry_path)}, "t")
        )


async def test_a_running_agent_never_imports_the_aggregator_stack(
    mosquitto: Mosquitto, agents: AgentProcesses, registry_path: Path
) -> None:
    """The agent (with a registry topology) loads no networkx, aiohttp or prometheus_client."""
    proc = agents.start(
        "--center", "hub-north", "--broker", mosquitto.url, "--topology", str(registry_path),
        "--peer-host-template", "{id}.invalid", "--probe-host", "127.0.0.1",
        "--probe-port", str(free_port()), "--probe-timeout", "0.2",
        python_flags=("-X", "importtime"),
    )  # fmt: skip
    async with Recorder(mosquitto.port, "hub-north") as rec:
        await rec.wait_for(is_state("online"))
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 10) == 0
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in agents.log_of(proc).splitlines()
        if line.startswith("import time:")
    }
    assert {"agents", "aiomqtt", "msgspec"} <= imported
    assert not imported & {"networkx", "aiohttp", "prometheus_client", "monitor"}

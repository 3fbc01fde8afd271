"""The agent: a center session fed by a capacity source and a prober, plus the probe responder."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from agents.broker import BrokerAddress
from agents.capacity import CapacityReading, CapacitySource, CapacityTracker
from agents.capacity.command import CommandSource
from agents.capacity.host import HostSource
from agents.capacity.slurm import SlurmSource
from agents.capacity.static import StaticSource
from agents.config import AgentConfig, command_argv
from agents.probe import PeerAddress, Prober, ProbeResponder
from agents.session import CenterSession, SessionTiming
from agents.topology import registry_neighbours

log = logging.getLogger(__name__)


def capacity_source(config: AgentConfig) -> CapacitySource:
    """The capacity source the config chooses."""
    cap = config.capacity
    if cap.source == "static":
        static = cap.static
        return StaticSource(
            CapacityReading(
                cpu_cores=static.cpu_cores,
                gpus=static.gpus,
                memory_bytes=static.memory_bytes,
                storage_bytes=static.storage_bytes,
            )
        )
    if cap.source == "slurm":
        return SlurmSource(command_argv(cap.scontrol), cap.command_timeout_s)
    if cap.source == "command":
        return CommandSource(command_argv(cap.command), cap.command_timeout_s)
    return HostSource(cap.storage_path)


def peer_addresses(config: AgentConfig) -> tuple[PeerAddress, ...]:
    """Peers from the config, then registry neighbours (``topology``) not listed explicitly.

    Raises:
        ConfigError: when the topology file is unusable.
    """
    peers = [PeerAddress(p.id, p.host, p.port) for p in config.peers]
    if config.topology:
        known = {p.id for p in peers}
        for peer in registry_neighbours(Path(config.topology), config.center):
            if peer not in known:
                host = config.peer_host_template.format(id=peer)
                peers.append(PeerAddress(peer, host, config.probe_port))
    return tuple(peers)


def session_timing(config: AgentConfig) -> SessionTiming:
    """The session intervals a config asks for."""
    return SessionTiming(
        heartbeat_interval_s=config.heartbeat_interval_s,
        capacity_interval_s=config.capacity_interval_s,
        capacity_check_interval_s=config.capacity_check_interval_s,
        probe_interval_s=config.probe_interval_s,
        keepalive_s=config.effective_keepalive_s,
        reconnect_base_s=config.reconnect_base_s,
        reconnect_cap_s=config.reconnect_cap_s,
    )


async def run_agent(
    config: AgentConfig,
    broker: BrokerAddress,
    peers: tuple[PeerAddress, ...],
    stop: asyncio.Event,
) -> None:
    """Serve probes and keep the center's session until ``stop`` is set.

    Raises:
        DcmonError: when the probe responder cannot listen.
    """
    responder = ProbeResponder(config.probe_host, config.probe_port)
    if config.probe_responder:
        await responder.start()
    tracker = CapacityTracker(capacity_source(config), config.center)
    prober = (
        Prober(peers, count=config.probe_count, timeout_s=config.probe_timeout_s) if peers else None
    )
    session = CenterSession(
        broker, config.center, session_timing(config), capacity=tracker.read, probes=prober
    )
    log.info(
        "dcmon-agent for center %s: %s; probing %s",
        config.center,
        config.summary(),
        ", ".join(p.id for p in peers) or "no peers",
        extra={"center": config.center},
    )
    try:
        await session.run(stop)
    finally:
        await responder.close()

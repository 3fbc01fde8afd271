"""A small federation of real ``python -m agents`` processes, for end-to-end tests and benchmarks.

Seven centers: two national centers (``ndc-a``, ``ndc-b``) linked to each other, a regional
``hub`` linked to both, a ring of provinces between the national centers
(``ndc-a - prov-1 - prov-2 - ndc-b``) and a ring behind the hub (``hub - prov-3 - prov-4 - hub``)
whose only way to the core is the hub::

    prov-1 ---- ndc-a ---- ndc-b ---- prov-2      (prov-1 -- prov-2 closes the ring)
                   \\       /
                     hub
                    /    \\
               prov-3 -- prov-4

Every agent serves its probe responder on its own free loopback port and probes its registry
neighbours there. A link can be put behind a pair of :class:`LinkRelay` (one per direction) so a
test can cut it; a center's responder can be served by the test itself (``external_responders``)
so that killing its agent leaves the data center reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.probe import ProbeResponder
from tests.agent_harness import AgentProcesses, agent_processes
from tests.services import free_port

CENTERS: tuple[tuple[str, str, str], ...] = (
    ("ndc-a", "national", "north"),
    ("ndc-b", "national", "south"),
    ("hub", "regional", "central"),
    ("prov-1", "provincial", "north"),
    ("prov-2", "provincial", "south"),
    ("prov-3", "provincial", "central"),
    ("prov-4", "provincial", "central"),
)
LINKS: tuple[tuple[str, str], ...] = (
    ("ndc-a", "ndc-b"),
    ("hub", "ndc-a"),
    ("hub", "ndc-b"),
    ("ndc-a", "prov-1"),
    ("prov-1", "prov-2"),
    ("ndc-b", "prov-2"),
    ("hub", "prov-3"),
    ("prov-3", "prov-4"),
    ("hub", "prov-4"),
)
CENTER_IDS: tuple[str, ...] = tuple(c for c, _, _ in CENTERS)
STATIC_CAPACITY = {
    "cpu_cores": {"total": 64, "available": 16},
    "gpus": {"total": 8, "available": 2},
}


def neighbours(center: str) -> tuple[str, ...]:
    """The registry neighbours of ``center``."""
    return tuple(b if a == center else a for a, b in LINKS if center in (a, b))


def write_federation(directory: Path) -> Path:
    """Write the federation's registry to ``directory/federation.yaml``."""
    document: dict[str, Any] = {
        "centers": [
            {
                "id": cid,
                "name": cid.upper(),
                "tier": tier,
                "region": region,
                "province": region.title(),
                "location": {"lat": 10.0 + i, "lon": 105.0 + i},
            }
            for i, (cid, tier, region) in enumerate(CENTERS)
        ],
        "links": [{"a": a, "b": b, "bandwidth_gbps": 10} for a, b in LINKS],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "federation.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class AgentTiming:
    """The agents' intervals (seconds), passed as flags."""

    heartbeat_interval_s: float = 0.5
    probe_interval_s: float = 1.0
    probe_timeout_s: float = 0.5
    probe_count: int = 2
    reconnect_base_s: float = 0.2
    reconnect_cap_s: float = 1.0
    """Fast reconnects for tests; the agent's own defaults (0.5 s, 30 s) for outage tests."""

    @property
    def misses_window_s(self) -> float:
        """The aggregator's silence window at its default of 3 misses."""
        return 3 * self.heartbeat_interval_s


class LinkRelay:
    """A TCP relay in front of one probe responder; ``cut()`` turns it into a blackhole.

    While cut, it still accepts connections but never answers (as a link that drops packets):
    the prober's exchange times out. Connections open at the moment of the cut are reset.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.is_cut = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen on a free loopback port (``self.port``)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def cut(self) -> None:
        """Stop forwarding: reset open connections, swallow everything from now on."""
        self.is_cut = True
        for writer in list(self._open):
            writer.transport.abort()

    def restore(self) -> None:
        """Forward again."""
        self.is_cut = False

    async def close(self) -> None:
        """Stop listening and drop every connection."""
        self.cut()
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            if self.is_cut:
                while await reader.read(1024):
                    pass
                return
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target_port)
            self._open.add(upstream)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._tasks.discard(task)
            for end in (writer, upstream):
                if end is not None:
                    self._open.discard(end)
                    end.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(1024):
        writer.write(data)
        await writer.drain()
    writer.transport.abort()


class Federation:
    """The seven agents as real processes, with relays and test-served responders.

    Args:
        agents: where the processes are started (and killed at the end).
        broker_url: the broker the agents connect to.
        timing: the agents' intervals.
        relayed_links: links whose probes (both directions) go through a :class:`LinkRelay`.
        external_responders: centers whose probe responder the test serves instead of the agent
            (``agents.probe.ProbeResponder`` in this process): killing the agent leaves it up.
    """

    def __init__(
        self,
        agents: AgentProcesses,
        broker_url: str,
        timing: AgentTiming,
        *,
        relayed_links: Iterable[tuple[str, str]] = (),
        external_responders: Iterable[str] = (),
    ) -> None:
        self.agents = agents
        self.broker_url = broker_url
        self.timing = timing
        self.responder_ports = {center: free_port() for center in CENTER_IDS}
        self.relays: dict[tuple[str, str], LinkRelay] = {}
        for a, b in relayed_links:
            self.relays[(a, b)] = LinkRelay(self.responder_ports[b])
            self.relays[(b, a)] = LinkRelay(self.responder_ports[a])
        self.responders = {
            center: ProbeResponder("127.0.0.1", self.responder_ports[center])
            for center in external_responders
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.frozen: set[str] = set()

    async def start(self) -> None:
        """Start relays, test-served responders and one agent process per center."""
        for relay in self.relays.values():
            await relay.start()
        for responder in self.responders.values():
            await responder.start()
        for center in CENTER_IDS:
            self.start_agent(center)

    def start_agent(self, center: str) -> subprocess.Popen[bytes]:
        """Start (or restart) the agent of ``center``."""
        timing = self.timing
        args = [
            "--center",
            center,
            "--broker",
            self.broker_url,
            "--heartbeat-interval",
            str(timing.heartbeat_interval_s),
            "--probe-interval",
            str(timing.probe_interval_s),
            "--probe-timeout",
            str(timing.probe_timeout_s),
            "--probe-count",
            str(timing.probe_count),
            "--probe-host",
            "127.0.0.1",
            "--probe-port",
            str(self.responder_ports[center]),
            "--reconnect-base",
            str(timing.reconnect_base_s),
            "--reconnect-cap",
            str(timing.reconnect_cap_s),
            "--capacity-source",
            "static",
            "--static-capacity",
            json.dumps(STATIC_CAPACITY),
        ]
        for peer in neighbours(center):
            args += ["--peer", f"{peer}=127.0.0.1:{self.peer_port(center, peer)}"]
        if center in self.responders:
            args.append("--no-probe-responder")
        proc = self.agents.start(*args)
        self.processes[center] = proc
        return proc

    def peer_port(self, source: str, target: str) -> int:
        """Where ``source`` probes ``target``: the relay of that direction, else the responder."""
        relay = self.relays.get((source, target))
        return relay.port if relay is not None else self.responder_ports[target]

    def kill(self, center: str) -> None:
        """SIGKILL the agent of ``center`` (a crash: its probe responder dies with it)."""
        proc = self.processes[center]
        proc.kill()
        proc.wait(timeout=10)
        self.frozen.discard(center)

    def freeze(self, center: str) -> None:
        """SIGSTOP the agent: its connection stays open, nothing is sent or answered."""
        self.processes[center].send_signal(signal.SIGSTOP)
        self.frozen.add(center)

    def thaw(self, center: str) -> None:
        """SIGCONT a frozen agent."""
        self.processes[center].send_signal(signal.SIGCONT)
        self.frozen.discard(center)

    def cut(self, a: str, b: str) -> None:
        """Cut a relayed link in both directions (probes across it time out)."""
        self.relays[(a, b)].cut()
        self.relays[(b, a)].cut()

    def restore(self, a: str, b: str) -> None:
        """Let probes across a cut link through again."""
        self.relays[(a, b)].restore()
        self.relays[(b, a)].restore()

    async def close_responder(self, center: str) -> None:
        """Stop a test-served responder (the data center itself is gone now)."""
        await self.responders[center].close()

    async def close(self) -> None:
        """Thaw frozen agents, kill every agent, close relays and responders."""
        for center in list(self.frozen):
            with contextlib.suppress(ProcessLookupError):
                self.thaw(center)
        self.agents.kill_all()
        for relay in self.relays.values():
            await relay.close()
        for responder in self.responders.values():
            await responder.close()


@contextlib.asynccontextmanager
async def running_federation(
    workdir: Path,
    broker_url: str,
    timing: AgentTiming,
    *,
    relayed_links: Iterable[tuple[str, str]] = (),
    external_responders: Iterable[str] = (),
) -> AsyncIterator[Federation]:
    """Run the federation's agents until the context ends (every process is killed then)."""
    with agent_processes(workdir) as procs:
        federation = Federation(
            procs,
            broker_url,
            timing,
            relayed_links=relayed_links,
            external_responders=external_responders,
        )
        try:
            await federation.start()
            yield federation
        finally:
            await federation.close()

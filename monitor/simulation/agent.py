"""One simulated center's agent: the real agent's session fed by the simulated world.

Each simulated center runs an :class:`agents.session.CenterSession` (the real agent's MQTT
session: will, birth, heartbeats, capacity and link reports, reconnects, goodbye) with synthetic
capacity (``capacity``) and probe results (``network``). This module only follows the fault
model: a stopped agent's session is dropped without a DISCONNECT (the broker publishes its will),
a frozen one keeps its connection but sends nothing, not even keepalive pings, and an agent that
comes back (heal) starts a new session, as a restarted process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.broker import BrokerAddress, backoff_delays
from agents.capacity import CapacityReading
from agents.protocol import MessageKind, Probe
from agents.session import SessionTiming
from monitor.registry import CenterSpec
from monitor.simulation.capacity import CapacityDrift
from monitor.simulation.faults import FaultableSession
from monitor.simulation.network import SimulatedNetwork

logger = logging.getLogger(__name__)

AGENT_NAME = "dcmon-simulated-agent/0.1"
RECONNECT_BASE_S = 0.5
RECONNECT_CAP_S = 10.0
PUBLISH_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Timing:
    """How often simulated agents publish (the real agent's defaults unless told otherwise)."""

    heartbeat_interval_s: float = 5.0
    probe_interval_s: float = 10.0
    capacity_interval_s: float = 30.0
    heartbeat_misses: int = 3

    @property
    def keepalive_s(self) -> int:
        """MQTT keepalive: the broker fires the will after 1.5 x this, inside the window."""
        window = self.heartbeat_misses * self.heartbeat_interval_s
        return max(1, int(window / 1.5))

    def session_timing(self) -> SessionTiming:
        """The session intervals: capacity drifts all the time, so it is read once per report."""
        return SessionTiming(
            heartbeat_interval_s=self.heartbeat_interval_s,
            capacity_interval_s=self.capacity_interval_s,
            capacity_check_interval_s=self.capacity_interval_s,
            probe_interval_s=self.probe_interval_s,
            keepalive_s=self.keepalive_s,
            reconnect_base_s=RECONNECT_BASE_S,
            reconnect_cap_s=RECONNECT_CAP_S,
            broker_timeout_s=PUBLISH_TIMEOUT_S,
            goodbye_timeout_s=PUBLISH_TIMEOUT_S,
        )


@dataclass
class PublishStats:
    """Messages the simulated agents published, by kind, and how far behind schedule they ran."""

    published: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    max_lag_s: float = 0.0

    @property
    def total(self) -> int:
        """Messages published so far."""
        return sum(self.published.values())


class SimulatedAgent:
    """The agent of one simulated center (run it as a task; ``stop()`` ends it gracefully)."""

    def __init__(
        self,
        center: CenterSpec,
        neighbours: tuple[str, ...],
        network: SimulatedNetwork,
        *,
        broker: BrokerAddress,
        timing: Timing,
        stats: PublishStats,
        rng: random.Random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.center = center
        self.neighbours = neighbours
        self._network = network
        self._broker = broker
        self._timing = timing
        self._session_timing = timing.session_timing()
        self._stats = stats
        self._rng = rng
        self._clock = clock
        self._capacity = CapacityDrift.for_center(center, rng)
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._session: FaultableSession | None = None
        self._last_session = 0
        self._failures = 0
        self._frozen = False

    @property
    def id(self) -> str:
        """The center id."""
        return self.center.id

    @property
    def connected(self) -> bool:
        """Whether the agent's session is up (born, publishing)."""
        return self._session is not None and self._session.connected.is_set()

    @property
    def failures(self) -> int:
        """Broker connections that failed or were lost, over all sessions so far."""
        live = self._session.failures if self._session is not None else 0
        return self._failures + live

    def poke(self) -> None:
        """The world changed for this agent: follow the fault model now, and probe at once."""
        session = self._session
        if session is not None:
            if not self._network.agent_runs(self.id):
                logger.info("simulated agent %s: killed", self.id, extra={"center": self.id})
                session.drop()
            elif self._network.agent_frozen(self.id):
                self._frozen = True
                session.freeze()
            elif self._frozen:
                session.drop()  # healed: the hung process is killed, then restarted
            else:
                session.probe_now()
        self._wake.set()

    def stop(self) -> None:
        """Ask the agent to say goodbye and disconnect."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> None:
        """Run sessions until stopped: one per agent (re)start, following injected faults."""
        delays = backoff_delays(RECONNECT_BASE_S, RECONNECT_CAP_S, rng=self._rng)
        while not self._stop.is_set():
            if not self._network.agent_runs(self.id) or self._network.agent_frozen(self.id):
                await self._until_poked()
                continue
            session = self._new_session()
            try:
                await session.run(self._stop)
            except Exception:
                # A bug in one simulated agent must not silently end it: log, back off, go on.
                self._stats.errors += 1
                logger.exception("simulated agent %s failed", self.id, extra={"center": self.id})
                await self._until_poked(next(delays))
            finally:
                self._failures += session.failures
                self._session = None

    def _new_session(self) -> FaultableSession:
        """A restarted agent process: a new session number, larger than any before."""
        self._last_session = max(self._last_session + 1, int(self._clock() * 1000))
        self._frozen = False
        self._session = FaultableSession(
            self._broker,
            self.id,
            self._session_timing,
            capacity=self._read_capacity,
            probes=self._probe_round,
            agent=AGENT_NAME,
            session=self._last_session,
            on_publish=self._published,
            log_lifecycle=False,
        )
        return self._session

    async def _until_poked(self, timeout_s: float | None = None) -> None:
        """Wait for a poke (or ``timeout_s``), then clear it."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        self._wake.clear()

    async def _read_capacity(self) -> CapacityReading:
        return CapacityReading(**self._capacity.report(self._clock()))

    async def _probe_round(self) -> Sequence[Probe]:
        return self._network.probes(self.id, self.neighbours, self._clock())

    def _published(self, kind: MessageKind) -> None:
        self._stats.published[kind.value] += 1
        if kind is MessageKind.HEARTBEAT and self._session is not None:
            self._stats.max_lag_s = max(self._stats.max_lag_s, self._session.heartbeat_lag_s)

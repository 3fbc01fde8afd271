"""One simulated center's agent: its own MQTT client, will, session and publishing schedule.

It speaks the real wire protocol (``agents.protocol``) through the real broker, so killing or
freezing it looks to the broker and the aggregator exactly like a real agent failing: a stopped
agent's connection is cut without a DISCONNECT (the broker publishes its will), a frozen one
keeps its connection but sends nothing, not even keepalive pings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import aiomqtt

from agents.broker import BrokerAddress, backoff_delays
from agents.protocol import (
    QOS,
    RETAIN,
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    MessageKind,
    Payload,
    ProtocolError,
    center_topic,
    encode,
)
from monitor.registry import CenterSpec
from monitor.simulation.capacity import CapacityDrift
from monitor.simulation.network import SimulatedNetwork

logger = logging.getLogger(__name__)

AGENT_NAME = "dcmon-simulated-agent/0.1"
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
        self._stats = stats
        self._rng = rng
        self._clock = clock
        self._capacity = CapacityDrift.for_center(center, rng)
        self._wake = asyncio.Event()
        self._probe_now = False
        self._stopping = False
        self._session = 0
        self._seq = 0
        self.connected = False

    @property
    def id(self) -> str:
        """The center id."""
        return self.center.id

    def poke(self) -> None:
        """The world changed for this agent: re-check faults and probe at once."""
        self._probe_now = True
        self._wake.set()

    def stop(self) -> None:
        """Ask the agent to say goodbye and disconnect."""
        self._stopping = True
        self._wake.set()

    async def _sleep(self, delay_s: float) -> None:
        """Sleep up to ``delay_s``, waking early when poked."""
        if delay_s > 0 and not self._wake.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay_s):
                    await self._wake.wait()
        self._wake.clear()

    def _runnable(self) -> bool:
        return self._network.agent_runs(self.id) and not self._network.agent_frozen(self.id)

    async def run(self) -> None:
        """Connect, publish, and reconnect with backoff until stopped; follow injected faults."""
        delays = backoff_delays(base_s=0.5, cap_s=10.0, rng=self._rng)
        while not self._stopping:
            if not self._runnable():
                await self._sleep(3600)
                continue
            try:
                async with self._connect() as client:
                    self.connected = True
                    delays = backoff_delays(base_s=0.5, cap_s=10.0, rng=self._rng)
                    await self._serve(client)
            except aiomqtt.MqttError as exc:
                self._stats.errors += 1
                delay = next(delays)
                logger.info(
                    "simulated agent %s: broker connection failed (%s); retrying in %.1f s",
                    self.id,
                    exc,
                    delay,
                    extra={"center": self.id},
                )
                await self._sleep(delay)
            except Exception:
                # A bug in one simulated agent must not silently end it: log, back off, go on.
                self._stats.errors += 1
                logger.exception("simulated agent %s failed", self.id, extra={"center": self.id})
                await self._sleep(next(delays))
            finally:
                self.connected = False

    def _connect(self) -> aiomqtt.Client:
        self._session = max(self._session + 1, int(self._clock() * 1000))
        self._seq = 0
        will = CenterState(
            center=self.id,
            status="offline",
            session=self._session,
            ts=self._clock(),
            reason="lost",
        )
        topic = center_topic(self.id, MessageKind.STATE)
        return aiomqtt.Client(
            self._broker.host,
            self._broker.port,
            username=self._broker.username,
            password=self._broker.password,
            tls_context=self._broker.ssl_context(),
            identifier=f"dcmon-sim-{self.id}",
            keepalive=self._timing.keepalive_s,
            will=aiomqtt.Will(topic, encode(will), qos=1, retain=True),
            clean_session=True,
        )

    async def _publish(self, client: aiomqtt.Client, kind: MessageKind, payload: Payload) -> None:
        try:
            data = encode(payload)
        except ProtocolError as exc:
            # A real agent would not send it either; the simulation goes on without it.
            self._stats.errors += 1
            logger.warning(
                "simulated agent %s: %s message not sent: %s",
                self.id,
                kind.value,
                exc,
                extra={"center": self.id},
            )
            return
        await client.publish(
            center_topic(self.id, kind),
            data,
            qos=QOS[kind],
            retain=RETAIN[kind],
            timeout=PUBLISH_TIMEOUT_S,
        )
        self._stats.published[kind.value] += 1

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def _serve(self, client: aiomqtt.Client) -> None:
        timing = self._timing
        birth = CenterState(
            center=self.id,
            status="online",
            session=self._session,
            ts=self._clock(),
            heartbeat_interval_s=timing.heartbeat_interval_s,
            probe_interval_s=timing.probe_interval_s,
            agent=AGENT_NAME,
        )
        await self._publish(client, MessageKind.STATE, birth)
        loop = asyncio.get_running_loop()
        next_heartbeat = next_probe = next_capacity = loop.time()
        while True:
            if self._stopping:
                await self._say_goodbye(client)
                return
            if not self._network.agent_runs(self.id):
                await self._crash(client)
                return
            if self._network.agent_frozen(self.id):
                await self._hang(client)
                return
            now = loop.time()
            if now >= next_heartbeat:
                self._note_lag(now - next_heartbeat)
                await self._publish(client, MessageKind.HEARTBEAT, self._heartbeat())
                next_heartbeat = _advance(next_heartbeat, timing.heartbeat_interval_s, now)
            if now >= next_capacity:
                await self._publish(client, MessageKind.CAPACITY, self._capacity_report())
                next_capacity = _advance(next_capacity, timing.capacity_interval_s, now)
            if now >= next_probe or self._probe_now:
                self._probe_now = False
                await self._publish(client, MessageKind.LINKS, self._link_report())
                next_probe = _advance(next_probe, timing.probe_interval_s, now)
            await self._sleep(min(next_heartbeat, next_probe, next_capacity) - loop.time())

    def _note_lag(self, lag_s: float) -> None:
        self._stats.max_lag_s = max(self._stats.max_lag_s, lag_s)

    def _heartbeat(self) -> Heartbeat:
        return Heartbeat(session=self._session, seq=self._next_seq(), ts=self._clock())

    def _capacity_report(self) -> Capacity:
        now = self._clock()
        resources = self._capacity.report(now)
        return Capacity(
            session=self._session,
            seq=self._next_seq(),
            ts=now,
            cpu_cores=resources.get("cpu_cores"),
            gpus=resources.get("gpus"),
            memory_bytes=resources.get("memory_bytes"),
            storage_bytes=resources.get("storage_bytes"),
        )

    def _link_report(self) -> LinkReport:
        now = self._clock()
        return LinkReport(
            session=self._session,
            seq=self._next_seq(),
            ts=now,
            probes=self._network.probes(self.id, self.neighbours, now),
        )

    async def _say_goodbye(self, client: aiomqtt.Client) -> None:
        goodbye = CenterState(
            center=self.id,
            status="offline",
            session=self._session,
            ts=self._clock(),
            reason="shutdown",
        )
        with contextlib.suppress(aiomqtt.MqttError):
            await self._publish(client, MessageKind.STATE, goodbye)

    async def _crash(self, client: aiomqtt.Client) -> None:
        """Cut the connection without a DISCONNECT, as a killed process would: the will fires."""
        logger.info("simulated agent %s: killed", self.id, extra={"center": self.id})
        paho = client._client  # aiomqtt exposes no way to drop a connection uncleanly
        sock = paho.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        disconnected = client._disconnected
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.shield(disconnected)

    async def _hang(self, client: aiomqtt.Client) -> None:
        """Do nothing, not even keepalive pings, until unfrozen; then restart (new session)."""
        logger.info("simulated agent %s: frozen", self.id, extra={"center": self.id})
        misc = client._misc_task
        if misc is not None:
            misc.cancel()
        while self._network.agent_frozen(self.id) and not self._stopping:
            await self._sleep(3600)
        await self._crash(client)


def _advance(due: float, interval: float, now: float) -> float:
    """The next due time after ``due``; skips missed slots instead of bursting to catch up."""
    due += interval
    return due if due > now else now + interval

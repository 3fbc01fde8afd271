"""A center's MQTT session: will, birth, heartbeats, capacity and link reports, reconnects.

:class:`CenterSession` knows nothing about where capacity or probe results come from: it takes
two async callables. The agent passes its capacity source and prober; a simulator can run hundreds
of sessions in one process with synthetic ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiomqtt

from agents.broker import BrokerAddress, backoff_delays
from agents.capacity import CapacityReading
from agents.protocol import (
    QOS,
    RETAIN,
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    MessageKind,
    Payload,
    Probe,
    center_topic,
    encode,
)

log = logging.getLogger(__name__)

AGENT_VERSION: Final = "0.1.0"
GOODBYE_TIMEOUT_S: Final = 1.0

CapacityRead = Callable[[], Awaitable[CapacityReading | None]]
ProbeRound = Callable[[], Awaitable[Sequence[Probe]]]


@dataclass(frozen=True, slots=True)
class SessionTiming:
    """Intervals of one session (seconds)."""

    heartbeat_interval_s: float = 5.0
    capacity_interval_s: float = 30.0
    capacity_check_interval_s: float = 5.0
    probe_interval_s: float = 10.0
    keepalive_s: int = 10
    reconnect_base_s: float = 0.5
    reconnect_cap_s: float = 30.0
    broker_timeout_s: float = 10.0


class CenterSession:
    """One center's presence on the broker, kept up until ``stop`` is set.

    Args:
        broker: where to connect.
        center: the center id (validated).
        timing: intervals and reconnect backoff.
        capacity: returns the current capacity, or ``None`` when none is known yet.
        probes: runs one probe round over the center's peers; ``None`` for no link reports.
        agent: the software announced in the birth.
        session: the session number; defaults to the start time in milliseconds.
    """

    def __init__(
        self,
        broker: BrokerAddress,
        center: str,
        timing: SessionTiming,
        *,
        capacity: CapacityRead | None = None,
        probes: ProbeRound | None = None,
        agent: str = f"dcmon-agent/{AGENT_VERSION}",
        session: int | None = None,
    ) -> None:
        self.broker = broker
        self.center = center
        self.timing = timing
        self.agent = agent
        self.session = session if session is not None else time.time_ns() // 1_000_000
        self.connected = asyncio.Event()
        self.connections = 0
        self._capacity = capacity
        self._probes = probes
        self._seq = itertools.count(1)
        self._extra = {"center": center}
        self._last_capacity: CapacityReading | None = None
        self._last_probes: tuple[Probe, ...] | None = None

    # --- connection lifecycle --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, and reconnect forever until ``stop`` is set; then say goodbye."""
        delays = backoff_delays(self.timing.reconnect_base_s, self.timing.reconnect_cap_s)
        attempt = 0
        while not stop.is_set():
            attempt += 1
            try:
                async with self._client() as client:
                    self.connections += 1
                    log.info(
                        "connected to %s as center %s (session %d)",
                        self.broker.url,
                        self.center,
                        self.session,
                        extra=self._extra,
                    )
                    attempt = 0
                    delays = backoff_delays(
                        self.timing.reconnect_base_s, self.timing.reconnect_cap_s
                    )
                    await self._serve(client, stop)
                    return
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                if stop.is_set():
                    return
                delay = next(delays)
                what = (
                    "lost the connection to" if attempt == 0 else f"attempt {attempt}: cannot reach"
                )
                log.info(
                    "%s broker %s (%s); reconnecting in %.1f s",
                    what,
                    self.broker.url,
                    exc,
                    delay,
                    extra=self._extra,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    def _client(self) -> aiomqtt.Client:
        will = CenterState(
            center=self.center,
            status="offline",
            session=self.session,
            ts=time.time(),
            reason="lost",
        )
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.center,
            clean_session=True,
            keepalive=self.timing.keepalive_s,
            timeout=self.timing.broker_timeout_s,
            tls_context=self.broker.ssl_context(),
            will=aiomqtt.Will(
                center_topic(self.center, MessageKind.STATE),
                encode(will),
                qos=QOS[MessageKind.STATE],
                retain=RETAIN[MessageKind.STATE],
            ),
            logger=logging.getLogger("agents.session.mqtt"),
        )

    async def _serve(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        await self._publish(client, MessageKind.STATE, self._birth())
        self.connected.set()
        stop_waiter = asyncio.ensure_future(stop.wait())
        tasks = {
            stop_waiter,
            asyncio.create_task(self._watch(client), name=f"{self.center}-watch"),
            asyncio.create_task(self._heartbeats(client), name=f"{self.center}-heartbeat"),
        }
        if self._capacity is not None:
            tasks.add(asyncio.create_task(self._capacity_reports(client), name="capacity"))
        if self._probes is not None:
            tasks.add(asyncio.create_task(self._link_reports(client), name="links"))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(tasks)
        for task in done:
            if task is not stop_waiter and (exc := task.exception()) is not None:
                raise exc
        self.connected.clear()
        await self._goodbye(client)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        goodbye = CenterState(
            center=self.center,
            status="offline",
            session=self.session,
            ts=time.time(),
            reason="shutdown",
        )
        try:
            await client.publish(
                center_topic(self.center, MessageKind.STATE),
                encode(goodbye),
                qos=1,
                retain=True,
                timeout=GOODBYE_TIMEOUT_S,
            )
            log.info("published offline (shutdown)", extra=self._extra)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish offline (shutdown): %s", exc, extra=self._extra)

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # Iterating the message queue is how aiomqtt reports a lost connection (MqttError).
        async for _ in client.messages:
            pass

    # --- what is published -----------------------------------------------------------------

    def _birth(self) -> CenterState:
        return CenterState(
            center=self.center,
            status="online",
            session=self.session,
            ts=time.time(),
            heartbeat_interval_s=self.timing.heartbeat_interval_s,
            probe_interval_s=self.timing.probe_interval_s if self._probes is not None else None,
            agent=self.agent,
        )

    async def _publish(self, client: aiomqtt.Client, kind: MessageKind, payload: Payload) -> None:
        await client.publish(
            center_topic(self.center, kind), encode(payload), qos=QOS[kind], retain=RETAIN[kind]
        )

    async def _heartbeats(self, client: aiomqtt.Client) -> None:
        interval = self.timing.heartbeat_interval_s
        due = time.monotonic()
        while True:
            beat = Heartbeat(session=self.session, seq=next(self._seq), ts=time.time())
            await self._publish(client, MessageKind.HEARTBEAT, beat)
            due = _next_due(due, interval)
            await asyncio.sleep(due - time.monotonic())

    async def _capacity_reports(self, client: aiomqtt.Client) -> None:
        assert self._capacity is not None
        if self._last_capacity is not None:
            await self._publish_capacity(client, self._last_capacity)
        published_at = time.monotonic()
        while True:
            reading = await self._capacity()
            due = time.monotonic() - published_at >= self.timing.capacity_interval_s
            if reading is not None and (reading != self._last_capacity or due):
                await self._publish_capacity(client, reading)
                published_at = time.monotonic()
            await asyncio.sleep(self.timing.capacity_check_interval_s)

    async def _publish_capacity(self, client: aiomqtt.Client, reading: CapacityReading) -> None:
        self._last_capacity = reading
        payload = Capacity(
            session=self.session,
            seq=next(self._seq),
            ts=time.time(),
            cpu_cores=reading.cpu_cores,
            gpus=reading.gpus,
            memory_bytes=reading.memory_bytes,
            storage_bytes=reading.storage_bytes,
        )
        await self._publish(client, MessageKind.CAPACITY, payload)

    async def _link_reports(self, client: aiomqtt.Client) -> None:
        assert self._probes is not None
        if self._last_probes is not None:
            await self._publish_links(client, self._last_probes)
        due = time.monotonic()
        while True:
            probes = tuple(await self._probes())
            await self._publish_links(client, probes)
            due = _next_due(due, self.timing.probe_interval_s)
            await asyncio.sleep(due - time.monotonic())

    async def _publish_links(self, client: aiomqtt.Client, probes: tuple[Probe, ...]) -> None:
        self._last_probes = probes
        report = LinkReport(
            session=self.session, seq=next(self._seq), ts=time.time(), probes=probes
        )
        await self._publish(client, MessageKind.LINKS, report)


async def cancel_and_wait(tasks: set[asyncio.Task[Any]] | set[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until all are done, cancelling again any that swallowed it.

    Python 3.11's ``asyncio.wait_for`` (used by aiomqtt's publish) can drop a cancellation that
    races with the completion it waits for; a second cancel then ends the task.
    """
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


def _next_due(previous: float, interval: float) -> float:
    """The next tick on a fixed schedule, skipping ticks already missed (no bursts)."""
    now = time.monotonic()
    due = previous + interval
    if due < now:
        due += math.ceil((now - due) / interval) * interval
    return due

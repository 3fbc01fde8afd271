"""A center's MQTT session: will, birth, heartbeats, capacity and link reports, reconnects.

:class:`CenterSession` knows nothing about where capacity or probe results come from: it takes
two async callables. The agent passes its capacity source and prober; a simulator can run thousands
of sessions in one process with synthetic ones, and uses the fault hooks (``drop``, ``freeze``,
``probe_now``) that the agent itself never calls.
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
from typing import Final, Literal

import aiomqtt

from agents.broker import BrokerAddress, backoff_delays
from agents.capacity import CapacityReading
from agents.lifecycle import cancel_and_wait
from agents.mqtt_compat import cut_connection, stop_keepalive
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

DROP_TIMEOUT_S: Final = 5.0

CapacityRead = Callable[[], Awaitable[CapacityReading | None]]
ProbeRound = Callable[[], Awaitable[Sequence[Probe]]]
PublishObserver = Callable[[MessageKind], None]
Mode = Literal["running", "frozen", "dropped"]


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
    goodbye_timeout_s: float = GOODBYE_TIMEOUT_S


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
        on_publish: called with the kind of every message handed to the broker (for counting).
        log_lifecycle: log connections and the goodbye at INFO, and a lost or unreachable
            broker at WARNING; ``False`` logs all of them at DEBUG (a simulator running
            thousands of sessions sums them up itself).

    Attributes:
        connected: set while the session is up (born and publishing).
        connections: broker connections made so far.
        failures: connection attempts that failed and connections that were lost.
        heartbeat_lag_s: how late the latest heartbeat ran behind its schedule.
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
        on_publish: PublishObserver | None = None,
        log_lifecycle: bool = True,
    ) -> None:
        self.broker = broker
        self.center = center
        self.timing = timing
        self.agent = agent
        self.session = session if session is not None else time.time_ns() // 1_000_000
        self.connected = asyncio.Event()
        self.connections = 0
        self.failures = 0
        self.heartbeat_lag_s = 0.0
        self._capacity = capacity
        self._probes = probes
        self._seq = itertools.count(1)
        self._connection = 0
        self._extra = {"center": center}
        self._last_capacity: CapacityReading | None = None
        self._last_probes: tuple[Probe, ...] | None = None
        self._on_publish = on_publish
        self._lifecycle_level = logging.INFO if log_lifecycle else logging.DEBUG
        self._trouble_level = logging.WARNING if log_lifecycle else logging.DEBUG
        self._mode: Mode = "running"
        self._halted = asyncio.Event()
        self._serving_halt: asyncio.Future[None] | None = None
        self._probe_soon = asyncio.Event()

    # --- the seam for simulated faults (monitor.simulation.faults; the agent never halts) -----

    def _halt(self, mode: Mode) -> None:
        """Stop serving as a killed (``dropped``) or hung (``frozen``) process would.

        A frozen session keeps its socket open but sends nothing, keepalive pings included, until
        it is dropped or stopped; a dropped one cuts the connection without a DISCONNECT (the
        broker publishes the will) and ``run`` returns. Neither says goodbye.
        """
        if mode == "frozen" and self._mode != "running":
            return
        self._mode = mode
        self._halted.set()
        if self._serving_halt is not None and not self._serving_halt.done():
            self._serving_halt.set_result(None)

    def probe_now(self) -> None:
        """Run a probe round and report links at once instead of at the next tick."""
        self._probe_soon.set()

    # --- connection lifecycle --------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, serve, and reconnect forever until ``stop`` is set; then say goodbye."""
        delays = backoff_delays(self.timing.reconnect_base_s, self.timing.reconnect_cap_s)
        attempt = 0
        while not stop.is_set() and self._mode == "running":
            attempt += 1
            try:
                async with self._client() as client:
                    self.connections += 1
                    log.log(
                        self._lifecycle_level,
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
                if stop.is_set() or self._mode != "running":
                    break
                self.failures += 1
                delay = next(delays)
                what = (
                    "lost the connection to" if attempt == 0 else f"attempt {attempt}: cannot reach"
                )
                log.log(
                    self._trouble_level,
                    "%s broker %s (%s); reconnecting in %.1f s",
                    what,
                    self.broker.url,
                    exc,
                    delay,
                    extra=self._extra,
                )
                await _first_of(stop, self._halted, timeout_s=delay)
        # Frozen without a connection: hang until told to end.
        while self._mode == "frozen" and not stop.is_set():
            self._halted.clear()
            await _first_of(stop, self._halted)

    def _client(self) -> aiomqtt.Client:
        # Every attempt gets its own number, failed ones too: one that timed out may still have
        # reached the broker, whose will for it must not cancel the next birth.
        self._connection += 1
        will = CenterState(
            center=self.center,
            status="offline",
            session=self.session,
            ts=time.time(),
            reason="lost",
            connection=self._connection,
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
        await self._publish(client, MessageKind.STATE, self.birth())
        self.connected.set()
        stop_waiter = asyncio.ensure_future(stop.wait())
        # A bare future rather than a task waiting on the event: thousands of simulated
        # sessions each hold one for their whole life.
        halt_waiter = self._serving_halt = asyncio.get_running_loop().create_future()
        if self._mode != "running":
            halt_waiter.set_result(None)
        tasks = {
            stop_waiter,
            halt_waiter,
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
            self._serving_halt = None
            await cancel_and_wait(tasks)
        for task in done:
            if task not in (stop_waiter, halt_waiter) and (exc := task.exception()) is not None:
                raise exc
        self.connected.clear()
        if self._mode == "frozen":
            await self._hang(client, stop)
        if self._mode != "running":
            await self._cut(client)
            return
        await self._goodbye(client)

    async def _hang(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        """Frozen: no keepalive pings either, until ``drop`` or ``stop``."""
        log.info(
            "center %s: frozen (no messages, no keepalive pings)", self.center, extra=self._extra
        )
        stop_keepalive(client)
        while self._mode == "frozen" and not stop.is_set():
            self._halted.clear()
            await _first_of(stop, self._halted)

    async def _cut(self, client: aiomqtt.Client) -> None:
        """Close the socket without a DISCONNECT (the broker publishes the will)."""
        log.info(
            "center %s: connection cut without a DISCONNECT (the broker publishes the will)",
            self.center,
            extra=self._extra,
        )
        await cut_connection(client, DROP_TIMEOUT_S)

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        goodbye = CenterState(
            center=self.center,
            status="offline",
            session=self.session,
            ts=time.time(),
            reason="shutdown",
            connection=self._connection,
        )
        try:
            await client.publish(
                center_topic(self.center, MessageKind.STATE),
                encode(goodbye),
                qos=1,
                retain=True,
                timeout=self.timing.goodbye_timeout_s,
            )
            log.log(self._lifecycle_level, "published offline (shutdown)", extra=self._extra)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish offline (shutdown): %s", exc, extra=self._extra)

    @staticmethod
    async def _watch(client: aiomqtt.Client) -> None:
        # Iterating the message queue is how aiomqtt reports a lost connection (MqttError).
        async for _ in client.messages:
            pass

    # --- what is published -----------------------------------------------------------------

    def birth(self) -> CenterState:
        """The birth this session publishes on (re)connecting."""
        return CenterState(
            center=self.center,
            status="online",
            session=self.session,
            ts=time.time(),
            heartbeat_interval_s=self.timing.heartbeat_interval_s,
            probe_interval_s=self.timing.probe_interval_s if self._probes is not None else None,
            agent=self.agent,
            connection=self._connection,
        )

    async def _publish(self, client: aiomqtt.Client, kind: MessageKind, payload: Payload) -> None:
        await client.publish(
            center_topic(self.center, kind), encode(payload), qos=QOS[kind], retain=RETAIN[kind]
        )
        if self._on_publish is not None:
            self._on_publish(kind)

    async def _heartbeats(self, client: aiomqtt.Client) -> None:
        interval = self.timing.heartbeat_interval_s
        due = time.monotonic()
        while True:
            self.heartbeat_lag_s = max(0.0, time.monotonic() - due)
            beat = Heartbeat(
                session=self.session,
                seq=next(self._seq),
                ts=time.time(),
                connection=self._connection,
            )
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

    def capacity_report(self, reading: CapacityReading) -> Capacity:
        """The capacity message for ``reading`` (the next seq of this session)."""
        return Capacity(
            session=self.session,
            seq=next(self._seq),
            ts=time.time(),
            cpu_cores=reading.cpu_cores,
            gpus=reading.gpus,
            memory_bytes=reading.memory_bytes,
            storage_bytes=reading.storage_bytes,
        )

    def link_report(self, probes: tuple[Probe, ...]) -> LinkReport:
        """The link report of one probe round (the next seq of this session)."""
        return LinkReport(session=self.session, seq=next(self._seq), ts=time.time(), probes=probes)

    async def _publish_capacity(self, client: aiomqtt.Client, reading: CapacityReading) -> None:
        self._last_capacity = reading
        await self._publish(client, MessageKind.CAPACITY, self.capacity_report(reading))

    async def _link_reports(self, client: aiomqtt.Client) -> None:
        assert self._probes is not None
        if self._last_probes is not None:
            await self._publish_links(client, self._last_probes)
        due = time.monotonic()
        poked = False
        while True:
            probes = tuple(await self._probes())
            await self._publish_links(client, probes)
            if not poked:
                due = _next_due(due, self.timing.probe_interval_s)
            self._probe_soon.clear()
            # ``probe_now`` ends the wait early; the schedule stays as it was.
            poked = await _set_within(self._probe_soon, due - time.monotonic())

    async def _publish_links(self, client: aiomqtt.Client, probes: tuple[Probe, ...]) -> None:
        self._last_probes = probes
        await self._publish(client, MessageKind.LINKS, self.link_report(probes))


async def _set_within(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``event``; whether it is set (cheap: no extra task)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, timeout_s)):
            await event.wait()
    return event.is_set()


async def _first_of(*events: asyncio.Event, timeout_s: float | None = None) -> bool:
    """Wait until any of ``events`` is set (``True``) or ``timeout_s`` has passed (``False``)."""
    if not any(event.is_set() for event in events):
        waiters = {asyncio.ensure_future(event.wait()) for event in events}
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
    return any(event.is_set() for event in events)


def _next_due(previous: float, interval: float) -> float:
    """The next tick on a fixed schedule, skipping ticks already missed (no bursts)."""
    now = time.monotonic()
    due = previous + interval
    if due < now:
        due += math.ceil((now - due) / interval) * interval
    return due

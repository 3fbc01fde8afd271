"""MQTT ingest: one connection to the broker, every message decoded and fed to the status engine.

``Ingest`` is an async context manager that owns the aiomqtt connection and the named task that
serves it; leaving it publishes a graceful goodbye, cancels the task and awaits it. The connection
is retried forever with full-jitter backoff. No message can crash it: anything that does not fit
is counted by reason and logged (rate-limited) with its topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Protocol

import aiomqtt

from agents.broker import BrokerAddress, backoff_delays
from agents.lifecycle import cancel_and_wait
from agents.mqtt_compat import release_socket
from agents.protocol import (
    SUBSCRIPTION,
    AggregatorState,
    Message,
    MessageKind,
    ProtocolError,
    RejectReason,
    aggregator_topic,
    decode,
    encode,
)

logger = logging.getLogger(__name__)

RECEIVED_KINDS: Final = (*(k.value for k in MessageKind), "unknown")
INTERNAL_ERROR: Final = "internal_error"
"""Counted (as a refusal) when handling one message raised: a bug, contained to that message."""
REJECT_REASONS: Final = (*(r.value for r in RejectReason), INTERNAL_ERROR)
_KIND_BY_LEAF: Final = {
    "state": "state",
    "heartbeat": "heartbeat",
    "capacity": "capacity",
    "links": "links",
}
WARNING_INTERVAL_S: Final = 10.0
SYNC_TIMEOUT_S: Final = 5.0
# One aggregator per broker: it can afford to retry often, and every second blind is a second
# without monitoring.
BACKOFF_BASE_S: Final = 0.2
BACKOFF_CAP_S: Final = 5.0


class MessageSink(Protocol):
    """What ingest feeds: the status engine's input side."""

    def ingest(self, message: Message, received_at: float) -> RejectReason | None:
        """Take one decoded message; return why it was refused, or ``None``."""

    def broker_lost(self, at: float) -> None:
        """The broker connection is gone (blind from now on)."""

    def broker_restored(self, at: float) -> None:
        """The broker connection is back."""


@dataclass
class IngestCounters:
    """Messages received by kind and rejected by reason since start."""

    received: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RECEIVED_KINDS, 0))
    rejected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REJECT_REASONS, 0))


@dataclass
class _RejectLog:
    """Rate-limits the WARNING about refused messages: one line per reason per interval."""

    interval_s: float = WARNING_INTERVAL_S
    last_at: dict[str, float] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)

    def warn(self, reason: str, topic: str, detail: str, *, exc_info: bool = False) -> None:
        now = time.monotonic()
        if now - self.last_at.get(reason, -self.interval_s) < self.interval_s:
            self.suppressed[reason] = self.suppressed.get(reason, 0) + 1
            return
        skipped = self.suppressed.pop(reason, 0)
        self.last_at[reason] = now
        logger.warning(
            "refused message on %s: %s%s",
            topic,
            detail,
            f" ({skipped} more {reason} since the last warning)" if skipped else "",
            extra={"topic": topic, "reason": reason},
            exc_info=exc_info,
        )


class Ingest:
    """Owns the broker connection: subscribe ``dcmon/v1/#``, decode, feed the sink, reconnect.

    Args:
        address: the broker.
        instance: this aggregator's id, used for its retained birth/will topic.
        sink: the status engine (or anything with its input methods).
        on_input: called after every message and connection change (wakes the evaluator).
        keepalive_s: MQTT keepalive.
    """

    def __init__(
        self,
        address: BrokerAddress,
        instance: str,
        sink: MessageSink,
        *,
        on_input: Callable[[], None] = lambda: None,
        keepalive_s: int = 10,
    ) -> None:
        self.address = address
        self.instance = instance
        self.counters = IngestCounters()
        self.connected = False
        self.synced = False
        self.connection_attempts = 0
        self._sink = sink
        self._on_input = on_input
        self._keepalive_s = keepalive_s
        self._session = int(time.time() * 1000)
        self._topic = aggregator_topic(instance)
        self._task: asyncio.Task[None] | None = None
        self._client: aiomqtt.Client | None = None
        self._rejects = _RejectLog()
        self._closing = False

    @property
    def running(self) -> bool:
        """Whether the connection task is alive (it only ends when the context is left)."""
        return self._task is not None and not self._task.done()

    async def __aenter__(self) -> Ingest:
        self._task = asyncio.create_task(self._run_forever(), name=f"dcmon-ingest-{self.instance}")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        await self._say_goodbye()
        task = self._task
        if task is not None:
            # aiomqtt can swallow a cancellation that lands while it disconnects: insist.
            await cancel_and_wait({task})
            self._task = None

    # --- the connection ---------------------------------------------------------------------

    async def _run_forever(self) -> None:
        delays = backoff_delays(BACKOFF_BASE_S, BACKOFF_CAP_S)
        while True:
            self.connection_attempts += 1
            logger.debug(
                "connecting to %s (attempt %d)", self.address.url, self.connection_attempts
            )
            try:
                await self._serve_connection()
                why = "message stream ended"
            except (aiomqtt.MqttError, OSError) as exc:
                why = str(exc) or type(exc).__name__
            except Exception as exc:  # anything else: log it, never stop reconnecting
                logger.exception("broker connection to %s failed", self.address.url)
                why = type(exc).__name__
            task = asyncio.current_task()
            if self._closing or (task is not None and task.cancelling()):
                # aiomqtt may turn our cancellation into an MqttError while disconnecting.
                self._lost("shutting down")
                raise asyncio.CancelledError
            if self._lost(why):
                delays = backoff_delays(
                    BACKOFF_BASE_S, BACKOFF_CAP_S
                )  # a connection that worked restarts the backoff
            delay = next(delays)
            logger.info(
                "broker %s: %s; attempt %d in %.1f s",
                self.address.url,
                why,
                self.connection_attempts + 1,
                delay,
            )
            await asyncio.sleep(delay)

    async def _serve_connection(self) -> None:
        will = aiomqtt.Will(self._topic, self._state_payload("offline", "lost"), qos=1, retain=True)
        client = aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.address.username,
            password=self.address.password,
            tls_context=self.address.ssl_context(),
            will=will,
            keepalive=self._keepalive_s,
            identifier=f"dcmon-aggregator-{self.instance}-{self._session}",
            timeout=10,
        )
        try:
            await self._serve_client(client)
        finally:
            # Cancelled while connecting (aiomqtt connects in an executor thread): close the
            # socket now, while the loop runs, not in __del__ after it has closed.
            release_socket(client)

    async def _serve_client(self, client: aiomqtt.Client) -> None:
        async with client:
            self._client = client
            try:
                await client.subscribe(SUBSCRIPTION, qos=1)
                self.connected = True
                logger.info(
                    "connected to broker %s; subscribed to %s", self.address.url, SUBSCRIPTION
                )
                self._sink.broker_restored(time.time())
                self._on_input()
                # Retained messages are queued before our own birth, so seeing the birth come
                # back means the retained picture has been delivered (the initial sync).
                await client.publish(self._topic, self._state_payload("online"), qos=1, retain=True)
                sync_timer = asyncio.get_running_loop().call_later(SYNC_TIMEOUT_S, self._synced)
                try:
                    await self._consume(client)
                finally:
                    sync_timer.cancel()
            finally:
                self._client = None

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for mqtt_message in client.messages:
            try:
                self._handle(mqtt_message.topic.value, mqtt_message.payload)
            except Exception:
                # Whatever one message does is contained to it: only transport errors (raised
                # by the iteration above) may end the connection.
                topic = mqtt_message.topic.value
                self.counters.rejected[INTERNAL_ERROR] += 1
                self._rejects.warn(INTERNAL_ERROR, topic, "handling it failed", exc_info=True)

    def _handle(self, topic: str, payload: object) -> None:
        """Decode one message and feed it to the sink (refusals are counted, never raised)."""
        received = self.counters.received
        try:
            if not isinstance(payload, (bytes, bytearray)):
                raise ProtocolError(RejectReason.MALFORMED_JSON, "payload is not bytes")
            message = decode(topic, bytes(payload))
        except ProtocolError as exc:
            received[_kind_of(topic)] += 1
            self._reject(exc.reason, topic, exc.detail)
            return
        received[message.kind.value] += 1
        if message.kind is MessageKind.AGGREGATOR_STATE and message.source == self.instance:
            payload_state = message.payload
            if isinstance(payload_state, AggregatorState) and (
                payload_state.session == self._session
            ):
                self._synced()
        reason = self._sink.ingest(message, time.time())
        if reason is not None:
            self._reject(reason, topic, f"{reason.value} from {message.source}")
        self._on_input()

    def _reject(self, reason: RejectReason, topic: str, detail: str) -> None:
        self.counters.rejected[reason.value] += 1
        self._rejects.warn(reason.value, topic, detail)

    def _synced(self) -> None:
        if not self.synced and self.connected:
            self.synced = True
            logger.info("initial sync from %s done", self.address.url)

    def _lost(self, why: str) -> bool:
        """Mark the connection gone; returns whether it had been up (blind from now on)."""
        was_connected = self.connected
        self.connected = False
        self.synced = False
        if was_connected:
            logger.warning("lost broker %s: %s (blind until it is back)", self.address.url, why)
            self._sink.broker_lost(time.time())
            self._on_input()
        return was_connected

    def _state_payload(self, status: str, reason: str | None = None) -> bytes:
        return encode(
            AggregatorState(
                aggregator=self.instance,
                status="online" if status == "online" else "offline",
                session=self._session,
                ts=time.time(),
                reason="shutdown" if reason == "shutdown" else "lost" if reason else None,
            )
        )

    async def _say_goodbye(self) -> None:
        client = self._client
        if client is None or not self.connected:
            return
        with contextlib.suppress(aiomqtt.MqttError, asyncio.TimeoutError, OSError):
            await asyncio.wait_for(
                client.publish(
                    self._topic, self._state_payload("offline", "shutdown"), qos=1, retain=True
                ),
                timeout=2.0,
            )


def _kind_of(topic: str) -> str:
    """The ``kind`` label of a refused message, judged from its topic alone."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[:2] == ["dcmon", "v1"]:
        if parts[2] == "aggregators" and parts[4] == "state":
            return "aggregator_state"
        if parts[2] == "centers":
            return _KIND_BY_LEAF.get(parts[4], "unknown")
    return "unknown"

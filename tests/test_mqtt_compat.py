"""The private-API seam (agents.mqtt_compat) still does what it says on this aiomqtt version."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import aiomqtt
import pytest

from agents.mqtt_compat import (
    cut_connection,
    ignore_stale_socket_writers,
    release_socket,
    stop_keepalive,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

WILL_TOPIC = "compat/will"
DEADLINE_S = 20.0


def _client(port: int, identifier: str, keepalive: int = 60) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        identifier=identifier,
        keepalive=keepalive,
        will=aiomqtt.Will(WILL_TOPIC, identifier.encode(), qos=1),
    )


async def _next_will(watcher: aiomqtt.Client) -> str:
    async with asyncio.timeout(DEADLINE_S):
        async for message in watcher.messages:
            assert isinstance(message.payload, bytes)
            return message.payload.decode()
    raise AssertionError("the message stream ended")


async def test_cut_connection_makes_the_broker_publish_the_will(mosquitto: Mosquitto) -> None:
    """A connection cut without a DISCONNECT looks like a killed process: the will goes out."""
    async with _client(mosquitto.port, "watcher") as watcher:
        await watcher.subscribe(WILL_TOPIC, qos=1)
        victim = _client(mosquitto.port, "victim")
        await victim.__aenter__()
        await cut_connection(victim, timeout_s=5.0)
        assert await _next_will(watcher) == "victim"
        with pytest.raises(aiomqtt.MqttError):
            await victim.publish("compat/after", b"x", qos=1)
        with contextlib.suppress(aiomqtt.MqttError):
            await victim.__aexit__(None, None, None)


async def test_stop_keepalive_lets_the_broker_time_the_client_out(mosquitto: Mosquitto) -> None:
    """Without keepalive pings an idle client is dropped by the broker, which sends its will."""
    async with _client(mosquitto.port, "watcher") as watcher:
        await watcher.subscribe(WILL_TOPIC, qos=1)
        async with _client(mosquitto.port, "hung", keepalive=1) as hung:
            stop_keepalive(hung)
            assert await _next_will(watcher) == "hung"


async def test_release_socket_closes_the_clients_socket(mosquitto: Mosquitto) -> None:
    """The socket of a client is closed at once (so no ``__del__`` closes it after the loop)."""
    client = _client(mosquitto.port, "released")
    await client.__aenter__()
    assert client._client.socket() is not None
    release_socket(client)
    assert client._client.socket() is None
    release_socket(client)  # a second call is a no-op
    with contextlib.suppress(aiomqtt.MqttError):
        await client.__aexit__(None, None, None)


async def test_a_late_add_writer_of_a_closed_socket_is_not_an_error_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiomqtt's add_writer of a socket a failed connect closed is logged at DEBUG; any other
    failing callback still reaches the loop's handler as an ERROR."""
    loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    ignore_stale_socket_writers(loop)
    try:
        closed = socket.socket()
        fd = closed.fileno()
        closed.close()
        loop.call_soon(loop.add_writer, fd, lambda: None)
        loop.call_soon(_fails)
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(previous)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "_fails" in errors[0].getMessage()


def _fails() -> None:
    raise RuntimeError("a real bug")

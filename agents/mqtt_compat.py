"""Every use of aiomqtt's (and paho's) private API, in one place, for aiomqtt 2.x.

aiomqtt offers no public way to stop keepalive pings, to drop a connection without a DISCONNECT
(so the broker publishes the will, as for a killed process), or to release the socket of a
connect that was cancelled in its executor thread. dcmon needs the first two to simulate hung
and killed agents, and the third so a cancelled connect does not close its socket in ``__del__``
after the event loop is gone (aiomqtt#377). ``tests/test_mqtt_compat.py`` checks each against a
real broker, so an aiomqtt upgrade that moves these internals fails there, by name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

import aiomqtt

logger = logging.getLogger(__name__)


def stop_keepalive(client: aiomqtt.Client) -> None:
    """Stop the client's keepalive pings (the broker then drops it after 1.5 x keepalive)."""
    pinger: asyncio.Task[None] | None = client._misc_task
    if pinger is not None:
        pinger.cancel()


async def cut_connection(client: aiomqtt.Client, timeout_s: float) -> None:
    """Close the client's socket without a DISCONNECT and wait (up to ``timeout_s``) until the
    client has noticed; the broker publishes the client's will."""
    sock = client._client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(client._disconnected)


def release_socket(client: aiomqtt.Client) -> None:
    """Close a socket left open by a connect that was cancelled (no-op if there is none)."""
    paho = client._client
    if paho.socket() is not None:
        paho._reset_sockets()


def ignore_stale_socket_writers(loop: asyncio.AbstractEventLoop) -> None:
    """Log at DEBUG, not as an ERROR traceback, aiomqtt's late ``add_writer`` of a socket that a
    failed connect already closed.

    aiomqtt asks for write readiness from paho's connect thread with
    ``call_soon_threadsafe(loop.add_writer, fd, …)``; when the connect fails meanwhile (a broker
    that has just died), the fd is gone by the time the loop runs it, and asyncio prints
    "Exception in callback" with a traceback. Nothing is lost: the client's connect has failed
    and is retried. Every other error goes to the loop's previous handler.
    """
    previous = loop.get_exception_handler()

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        handle = context.get("handle")
        callback = getattr(handle, "_callback", None)
        if isinstance(context.get("exception"), ValueError | OSError) and (
            getattr(callback, "__name__", "") == "add_writer"
        ):
            logger.debug("ignored aiomqtt's add_writer of a closed socket: %s", context)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(handler)

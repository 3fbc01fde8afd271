"""Link probes: a tiny TCP echo responder every agent serves, and the prober that uses it.

A probe of a peer makes ``count`` small echo exchanges with the peer agent's responder, each
bounded by ``timeout_s``. A peer is reachable when at least one exchange came back; its RTT is the
median of the exchanges that did, and its loss the share that did not. A refused connection fails
fast; a blackholed peer (the handshake completes but nothing answers, or nothing at all answers)
costs at most ``count * timeout_s``. All peers are probed concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from agents.errors import DcmonError
from agents.protocol import Probe

log = logging.getLogger(__name__)

TOKEN_BYTES = 16
MAX_RESPONDER_CONNECTIONS = 256
RESPONDER_IDLE_S = 30.0


@dataclass(frozen=True, slots=True)
class PeerAddress:
    """A peer center and where its probe responder listens."""

    id: str
    host: str
    port: int


class ProbeResponder:
    """Echoes probe tokens back; bounded connections and idle time so it cannot be abused."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._open = 0

    async def start(self) -> None:
        """Listen; raises ``DcmonError`` when the port cannot be bound."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port)
        except OSError as exc:
            raise DcmonError(
                f"cannot listen for probes on {self.host}:{self.port} ({exc.strerror or exc}); "
                "choose another probe_port (--probe-port) or disable it (--no-probe-responder)"
            ) from exc
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("probe responder listening on %s:%d", self.host, self.port)

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 0.5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > MAX_RESPONDER_CONNECTIONS:
                return
            while True:
                async with asyncio.timeout(RESPONDER_IDLE_S):
                    data = await reader.read(TOKEN_BYTES)
                if not data:
                    return
                writer.write(data)
                await writer.drain()
        except (OSError, TimeoutError):
            pass
        finally:
            self._open -= 1
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class Prober:
    """Probes a fixed set of peers; ``await prober()`` runs one concurrent round.

    Which peers are unreachable is logged at INFO when it changes (the first round included),
    with why each failed, not every round; each failed exchange is logged at DEBUG.
    """

    def __init__(self, peers: Sequence[PeerAddress], *, count: int, timeout_s: float) -> None:
        self.peers = tuple(peers)
        self.count = count
        self.timeout_s = timeout_s
        self.last_error: dict[str, str] = {}
        """Why the latest failed exchange with each peer failed."""
        self._unreachable: frozenset[str] | None = None

    async def __call__(self) -> tuple[Probe, ...]:
        """One probe round over all peers, in peer order."""
        probes = tuple(await asyncio.gather(*(self.probe(peer) for peer in self.peers)))
        self._summarize(probes)
        return probes

    def _summarize(self, probes: Sequence[Probe]) -> None:
        unreachable = frozenset(p.peer for p in probes if not p.reachable)
        if unreachable == self._unreachable:
            return
        self._unreachable = unreachable
        if not unreachable:
            log.info("probes: all %d peers reachable", len(probes))
            return
        why = ", ".join(
            f"{p.peer} ({self.last_error.get(p.peer, 'no answer')})"
            for p in probes
            if p.peer in unreachable
        )
        log.info("probes: %d of %d peers unreachable: %s", len(unreachable), len(probes), why)

    async def probe(self, peer: PeerAddress) -> Probe:
        """Probe one peer with ``count`` echo exchanges."""
        rtts: list[float] = []
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            for _ in range(self.count):
                try:
                    async with asyncio.timeout(self.timeout_s):
                        if stream is None:
                            stream = await asyncio.open_connection(peer.host, peer.port)
                        rtts.append(await _exchange(*stream))
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    self.last_error[peer.id] = why_failed(exc, self.timeout_s)
                    log.debug("probe of %s failed: %r", peer.id, exc)
                    if stream is not None:
                        _close(stream[1])
                        stream = None
        finally:
            if stream is not None:
                _close(stream[1])
        loss = 1 - len(rtts) / self.count
        if not rtts:
            return Probe(peer=peer.id, reachable=False, loss_ratio=1.0)
        return Probe(
            peer=peer.id, reachable=True, rtt_s=statistics.median(rtts), loss_ratio=round(loss, 6)
        )


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    token = os.urandom(TOKEN_BYTES)
    started = time.perf_counter()
    writer.write(token)
    await writer.drain()
    echoed = await reader.readexactly(TOKEN_BYTES)
    rtt = time.perf_counter() - started
    if echoed != token:
        raise ValueError("echo does not match the token sent")
    return rtt


def why_failed(exc: BaseException, timeout_s: float) -> str:
    """``connection refused``, ``no answer within 1 s``: why a connection or exchange failed."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "the connection closed mid-answer"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc) or type(exc).__name__


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()

"""Real agent processes and an MQTT recorder of what they publish."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import aiomqtt

from agents import protocol
from agents.lifecycle import cancel_and_wait
from agents.protocol import MessageKind, Payload

REPO = Path(__file__).resolve().parent.parent


@dataclass
class AgentProcesses:
    """Starts ``python -m agents`` processes, each logging to its own file; kills leftovers."""

    workdir: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str, python_flags: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
        """Start one agent with ``args``; its stderr goes to ``log_of(proc)``."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / f"agent-{len(self.started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, *python_flags, "-m", "agents", *args],
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self.started.append(proc)
        return proc

    def log_of(self, proc: subprocess.Popen[bytes]) -> str:
        """Everything the agent wrote to stderr so far."""
        index = self.started.index(proc)
        return (self.workdir / f"agent-{index}.log").read_text(encoding="utf-8", errors="replace")

    def kill_all(self) -> None:
        """Kill and reap every agent still running."""
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


@dataclass(frozen=True)
class Received:
    """One message as a subscriber saw it."""

    kind: MessageKind
    source: str
    payload: Payload
    retain: bool
    qos: int
    at: float


class Recorder:
    """Subscribes to ``dcmon/v1/centers/<center>/#`` and keeps every decoded message."""

    def __init__(self, port: int, center: str) -> None:
        self.port = port
        self.center = center
        self.messages: list[Received] = []
        self.errors: list[str] = []
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        self._client = aiomqtt.Client(
            "127.0.0.1", self.port, identifier=f"recorder-{time.monotonic_ns()}"
        )
        await self._client.__aenter__()
        await self._client.subscribe(f"dcmon/v1/centers/{self.center}/#", qos=1)
        self._task = asyncio.create_task(self._collect())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            await cancel_and_wait({self._task})
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    async def _collect(self) -> None:
        assert self._client is not None
        with contextlib.suppress(aiomqtt.MqttError):
            async for msg in self._client.messages:
                assert isinstance(msg.payload, bytes)
                try:
                    decoded = protocol.decode(str(msg.topic), msg.payload)
                except protocol.ProtocolError as exc:
                    self.errors.append(f"{msg.topic}: {exc}")
                    continue
                self.messages.append(
                    Received(
                        decoded.kind,
                        decoded.source,
                        decoded.payload,
                        bool(msg.retain),
                        int(msg.qos),
                        time.monotonic(),
                    )
                )

    def of(self, kind: MessageKind) -> list[Received]:
        """Messages of one kind, in arrival order."""
        return [m for m in self.messages if m.kind is kind]

    async def wait_for(
        self, predicate: Callable[[Received], bool], timeout_s: float = 15.0, after: int = 0
    ) -> Received:
        """The first message (from index ``after``) matching ``predicate``, waiting for it."""
        async with asyncio.timeout(timeout_s):
            while True:
                for msg in self.messages[after:]:
                    if predicate(msg):
                        return msg
                await asyncio.sleep(0.02)


def is_state(status: str, reason: str | None = None) -> Callable[[Received], bool]:
    """Predicate: a state message with this status (and reason)."""

    def check(msg: Received) -> bool:
        payload = msg.payload
        return (
            msg.kind is MessageKind.STATE
            and isinstance(payload, protocol.CenterState)
            and payload.status == status
            and (reason is None or payload.reason == reason)
        )

    return check


def of_kind(kind: MessageKind) -> Callable[[Received], bool]:
    """Predicate: a message of this kind."""
    return lambda msg: msg.kind is kind


def retained(kind: MessageKind) -> Callable[[Received], bool]:
    """Predicate: a retained message of this kind (what a late subscriber gets at once)."""
    return lambda msg: msg.kind is kind and msg.retain


@contextlib.contextmanager
def agent_processes(workdir: Path) -> Iterator[AgentProcesses]:
    """Agent processes that are all killed at the end."""
    procs = AgentProcesses(workdir)
    try:
        yield procs
    finally:
        procs.kill_all()

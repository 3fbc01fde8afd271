"""``capacity.source: command``: a program that prints the capacity as JSON.

:func:`run_program` also runs ``scontrol`` for the slurm source. A program that hangs, or prints
without end, must cost the agent neither its capacity reports nor its memory: each run gets its
own process group, output is kept only up to a limit as it arrives, and the whole group is killed
when the run ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import subprocess
from typing import Final

import msgspec

from agents.capacity import CapacityReading, CapacitySourceError

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES: Final = 64 * 1024
# Enough of stderr for the last line of an error message; the rest is dropped as it arrives.
STDERR_TAIL_BYTES: Final = 1024
# A killed program stuck in the kernel (a hung NFS mount) dies only later; the next reading must
# not wait for it.
REAP_TIMEOUT_S: Final = 5.0
_COMMAND_CHARS: Final = 120
_DECODER = msgspec.json.Decoder(CapacityReading)


class _ProgramOutput(asyncio.SubprocessProtocol):
    """What one run printed, kept as the loop reads it: stdout up to a limit, a tail of stderr."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.stdout = bytearray()
        self.stderr_tail = b""
        self.overflowed = False
        # Done once the program has exited and closed its output, or printed too much.
        self.finished: asyncio.Future[None] = loop.create_future()
        self.exited: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Keep stdout up to ``MAX_OUTPUT_BYTES`` and the last ``STDERR_TAIL_BYTES`` of stderr."""
        if fd == 2:
            self.stderr_tail = (self.stderr_tail + data[-STDERR_TAIL_BYTES:])[-STDERR_TAIL_BYTES:]
        elif not self.overflowed:
            if len(self.stdout) + len(data) > MAX_OUTPUT_BYTES:
                self.overflowed = True
                self.stdout.clear()
                _resolve(self.finished)
            else:
                self.stdout += data

    def process_exited(self) -> None:
        """The program itself has exited (what it started may still hold its output open)."""
        _resolve(self.exited)

    def connection_lost(self, exc: Exception | None) -> None:
        """The program has exited and both of its pipes are closed."""
        _resolve(self.finished)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def describe(argv: tuple[str, ...]) -> str:
    """The command as a person would type it, in backquotes and shortened for a log line."""
    text = shlex.join(argv)
    if len(text) > _COMMAND_CHARS:
        text = text[: _COMMAND_CHARS - 1] + "…"
    return f"`{text}`"


async def run_program(argv: tuple[str, ...], timeout_s: float) -> bytes:
    """Run ``argv`` (no shell) in a new process group and return its standard output.

    However the run ends (output, failure, timeout, too much output, cancellation), the whole
    process group is killed before this returns, so nothing the program started outlives it.

    Raises:
        CapacitySourceError: when it cannot start, does not finish within ``timeout_s``, prints
            more than ``MAX_OUTPUT_BYTES``, or exits non-zero.
    """
    command = describe(argv)
    loop = asyncio.get_running_loop()
    start = asyncio.ensure_future(
        loop.subprocess_exec(
            _ProgramOutput,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    )
    try:
        # The program runs before its pipes are connected. Cancelled in between, asyncio would
        # kill only the program itself and wait for pipes its children hold: let the start
        # finish instead, and end the whole group then.
        transport, output = await asyncio.shield(start)
    except asyncio.CancelledError:
        start.add_done_callback(_end_when_started)
        raise
    except OSError as exc:
        raise CapacitySourceError(f"cannot run {command}: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(output.finished)
    except TimeoutError:
        raise CapacitySourceError(
            f"{command} timed out after {timeout_s:g} s and was killed"
        ) from None
    finally:
        await _end(transport, output, command)
    if output.overflowed:
        raise CapacitySourceError(
            f"{command} printed more than {MAX_OUTPUT_BYTES} bytes and was killed"
        )
    status = transport.get_returncode()
    if status != 0:
        raise CapacitySourceError(f"{command} {_failure(status, output.stderr_tail)}")
    return bytes(output.stdout)


async def _end(
    transport: asyncio.SubprocessTransport, output: _ProgramOutput, command: str
) -> None:
    """Kill the program's process group and reap the program, waiting a bounded time."""
    _kill(transport)
    try:
        if not output.exited.done():
            async with asyncio.timeout(REAP_TIMEOUT_S):
                await asyncio.shield(output.exited)
    except TimeoutError:
        log.warning(
            "%s is still not dead %g s after SIGKILL; not waiting for it", command, REAP_TIMEOUT_S
        )
    finally:
        transport.close()


def _end_when_started(
    start: asyncio.Future[tuple[asyncio.SubprocessTransport, _ProgramOutput]],
) -> None:
    """End a program whose start was still under way when its read was cancelled."""
    if start.cancelled() or start.exception() is not None:
        return
    transport, output = start.result()
    _kill(transport)
    # Closed once the program is reaped: closing earlier would poll (and might reap) the child
    # behind asyncio's child watcher.
    output.exited.add_done_callback(lambda _: transport.close())


def _kill(transport: asyncio.SubprocessTransport) -> None:
    """SIGKILL the program's process group and close its pipes without draining them.

    Draining would wait for whatever still holds the pipes: a process that left the group
    (``setsid``), or one not dead yet.
    """
    # After a normal exit too: whatever the program left running in its group goes with it.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(transport.get_pid(), signal.SIGKILL)
    for fd in (1, 2):
        pipe = transport.get_pipe_transport(fd)
        if pipe is not None:
            pipe.close()


def _failure(status: int | None, stderr_tail: bytes) -> str:
    """Why a finished run failed: its exit status (or signal) and the last line of its stderr."""
    if status is not None and status < 0:
        try:
            what = f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            what = f"was killed by signal {-status}"
    else:
        what = f"exited with status {status}"
    lines = stderr_tail.decode("utf-8", "replace").strip().splitlines()
    return f"{what}: {lines[-1][:200]}" if lines else what


def parse_capacity_json(data: bytes) -> CapacityReading:
    """Decode ``{"cpu_cores": {"total": …, "available": …}, …}`` (every resource optional)."""
    try:
        return _DECODER.decode(data).check()
    except msgspec.ValidationError as exc:
        raise CapacitySourceError(f"bad capacity JSON: {exc}") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise CapacitySourceError(f"output is not JSON: {exc}") from exc


class CommandSource:
    """Runs a program each time and reads the JSON it prints."""

    name = "command"

    def __init__(self, argv: tuple[str, ...], timeout_s: float) -> None:
        self._argv = argv
        self._timeout_s = timeout_s

    async def read(self) -> CapacityReading:
        """Run the program and parse its output."""
        return parse_capacity_json(await run_program(self._argv, self._timeout_s))

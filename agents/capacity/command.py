"""``capacity.source: command``: a program that prints the capacity as JSON."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from agents.capacity import CapacityReading, CapacitySourceError

MAX_OUTPUT_BYTES = 64 * 1024
_DECODER = msgspec.json.Decoder(CapacityReading)


async def run_program(argv: tuple[str, ...], timeout_s: float) -> bytes:
    """Run ``argv`` (no shell) and return its standard output.

    Raises:
        CapacitySourceError: when it cannot start, times out (it is killed), or exits non-zero.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise CapacitySourceError(f"cannot run {argv[0]!r}: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise CapacitySourceError(f"{argv[0]!r} did not finish within {timeout_s:g} s") from None
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = stderr.decode("utf-8", "replace").strip().splitlines()
        why = f": {lines[-1][:200]}" if lines else ""
        raise CapacitySourceError(f"{argv[0]!r} exited with status {proc.returncode}{why}")
    if len(stdout) > MAX_OUTPUT_BYTES:
        raise CapacitySourceError(f"{argv[0]!r} printed more than {MAX_OUTPUT_BYTES} bytes")
    return stdout


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

"""A capacity command that hangs, floods or fails costs the agent nothing but a warning."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agents.capacity import CapacityReading, CapacitySourceError, CapacityTracker
from agents.capacity.command import MAX_OUTPUT_BYTES, CommandSource, run_program
from agents.protocol import Capacity, MessageKind, Resource
from tests.agent_harness import REPO, AgentProcesses, Recorder, of_kind
from tests.services import Mosquitto

GOOD_JSON = '{"cpu_cores": {"total": 32, "available": 20}}'


def live_pids(pgid: int) -> list[int]:
    """Processes of a process group that are still running (a zombie has already died)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        state, _ppid, group = stat.rsplit(")", 1)[1].split()[:3]
        if int(group) == pgid and state != "Z":
            pids.append(int(entry.name))
    return pids


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not died (zombies count as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def running_with_env(marker: str) -> list[int]:
    """Running processes whose environment holds ``marker`` (children inherit it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_running(int(entry.name)):
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue  # exited while we looked, or not ours
            if marker.encode() in environ.split(b"\0"):
                pids.append(int(entry.name))
    return pids


async def eventually(predicate: Callable[[], bool], timeout_s: float = 15.0) -> None:
    """Wait until ``predicate()`` holds, with a generous deadline."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.02)


def hanging_command(tmp_path: Path) -> tuple[str, ...]:
    """``sh -c '…; sleep 600; echo'`` writing its own PID and its grandchild's (the sleep)."""
    inner = f"echo $$ > {tmp_path}/grandchild; exec sleep 600"
    return ("sh", "-c", f"echo $$ > {tmp_path}/leader; sh -c '{inner}'; echo")


def pid_in(path: Path) -> int:
    """The PID a command wrote to ``path``."""
    return int(path.read_text())


async def test_a_hanging_command_is_killed_with_its_grandchildren_and_reported(
    tmp_path: Path,
) -> None:
    """A shell whose grandchild holds its output open fails at the timeout; none of it survives."""
    problem = r"^`sh -c 'echo \$\$ > .*` timed out after 2 s and was killed$"
    started = time.monotonic()
    with pytest.raises(CapacitySourceError, match=problem):
        await run_program(hanging_command(tmp_path), timeout_s=2)
    assert time.monotonic() - started < 15
    leader, grandchild = pid_in(tmp_path / "leader"), pid_in(tmp_path / "grandchild")
    await eventually(lambda: not is_running(grandchild) and not live_pids(leader))


async def test_cancelling_a_read_kills_the_commands_process_group(tmp_path: Path) -> None:
    """A read cancelled mid-run (agent stopping, broker reconnect) leaves no process behind."""
    read = asyncio.create_task(run_program(hanging_command(tmp_path), timeout_s=600))
    grandchild_file = tmp_path / "grandchild"
    await eventually(lambda: grandchild_file.exists() and grandchild_file.stat().st_size > 0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    leader, grandchild = pid_in(tmp_path / "leader"), pid_in(tmp_path / "grandchild")
    await eventually(lambda: not is_running(grandchild) and not live_pids(leader))


async def test_a_read_cancelled_while_the_command_starts_leaves_no_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However early a read is cancelled, even before its pipes are connected, nothing survives."""
    marker = f"DCMON_TEST_RUN={os.getpid()}-{time.monotonic_ns()}"
    monkeypatch.setenv(*marker.split("=", 1))
    for steps in range(12):
        read = asyncio.create_task(run_program(("sh", "-c", "sleep 600; echo"), 600))
        for _ in range(steps):
            await asyncio.sleep(0)
        read.cancel()
        with pytest.raises(asyncio.CancelledError):
            await read
    await eventually(lambda: not running_with_env(marker))


async def test_background_processes_of_a_successful_command_are_killed(tmp_path: Path) -> None:
    """Nothing a command leaves running in its process group outlives the read."""
    script = f"sleep 600 >/dev/null 2>&1 & echo $! > {tmp_path}/bg; echo '{GOOD_JSON}'"
    reading = await CommandSource(("sh", "-c", script), timeout_s=10).read()
    assert reading.cpu_cores == Resource(total=32, available=20)
    background = pid_in(tmp_path / "bg")
    await eventually(lambda: not is_running(background))


@pytest.mark.parametrize(
    ("size", "accepted"), [(MAX_OUTPUT_BYTES, True), (MAX_OUTPUT_BYTES + 1, False)]
)
async def test_output_is_accepted_up_to_64_kib(size: int, accepted: bool) -> None:
    """Exactly 65536 bytes of output are read; one byte more is rejected."""
    argv = ("head", "-c", str(size), "/dev/zero")
    if accepted:
        assert len(await run_program(argv, timeout_s=10)) == size
    else:
        with pytest.raises(
            CapacitySourceError, match="printed more than 65536 bytes and was killed"
        ):
            await run_program(argv, timeout_s=10)


# Runs in a fresh interpreter, whose peak RSS (VmHWM) shows what the run itself cost.
FLOOD_PROBE = """
import asyncio, json, sys, time
from agents.capacity.command import run_program

def peak_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

async def main():
    await run_program(("true",), 10)  # warm up the subprocess machinery
    before, started = peak_kib(), time.monotonic()
    try:
        await run_program(tuple(sys.argv[2:]), float(sys.argv[1]))
        error = None
    except Exception as exc:
        error = str(exc)
    print(json.dumps({"growth_kib": peak_kib() - before, "error": error,
                      "elapsed_s": time.monotonic() - started}))

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (("head", "-c", "300000000", "/dev/zero"), "printed more than 65536 bytes"),
        (("yes",), "printed more than 65536 bytes"),
        (("sh", "-c", "yes >&2"), "timed out after 2 s"),
    ],
    ids=["300-mb-stdout", "endless-stdout", "endless-stderr"],
)
def test_a_flooding_command_is_rejected_without_growing_the_agent(
    argv: tuple[str, ...], problem: str
) -> None:
    """A command printing without end is rejected quickly and the agent's peak memory stays put."""
    probe = subprocess.run(
        [sys.executable, "-c", FLOOD_PROBE, "2", *argv],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(probe.stdout)
    assert problem in result["error"]
    assert result["elapsed_s"] < 30
    assert result["growth_kib"] < 32 * 1024


async def test_one_warning_per_failure_and_capacity_again_once_the_command_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed read logs one WARNING naming the command and why; the next good read counts."""
    flag = tmp_path / "hang"
    flag.touch()
    script = f"if [ -e {flag} ]; then sleep 600; fi; echo '{GOOD_JSON}'"
    tracker = CapacityTracker(CommandSource(("sh", "-c", script), 1), "prov-hue")
    caplog.set_level(logging.INFO, logger="agents.capacity")
    assert await tracker.read() is None
    assert await tracker.read() is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    for failure, message in enumerate(warnings, start=1):
        assert message.startswith(f"capacity source command failed (failure {failure}): ")
        assert "`sh -c 'if [ -e " in message
        assert message.endswith("timed out after 1 s and was killed; no capacity to report yet")
    flag.unlink()
    assert await tracker.read() == CapacityReading(cpu_cores=Resource(total=32, available=20))
    assert not tracker.failing
    assert caplog.records[-1].getMessage() == "capacity source command works again"


async def test_an_agent_whose_command_hangs_keeps_beating_warns_and_recovers(
    tmp_path: Path, mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """While the command hangs: heartbeats, a warning per try, no orphans; then capacity again."""
    flag, leaders = tmp_path / "hang", tmp_path / "leaders"
    flag.touch()
    script = tmp_path / "capacity.sh"
    script.write_text(
        f"echo $$ >> {leaders}\nif [ -e {flag} ]; then sleep 600; fi\necho '{GOOD_JSON}'\n"
    )
    proc = agents.start(
        "--center", "prov-hue", "--broker", mosquitto.url, "--no-probe-responder",
        "--heartbeat-interval", "0.2", "--capacity-check-interval", "0.2",
        "--capacity-source", "command", "--capacity-command", f"sh {script}",
        "--command-timeout", "0.5",
    )  # fmt: skip
    timed_out = f"`sh {script}` timed out after 0.5 s and was killed"
    async with Recorder(mosquitto.port, "prov-hue") as rec:
        await eventually(lambda: agents.log_of(proc).count(timed_out) >= 3, timeout_s=30)
        beats = len(rec.of(MessageKind.HEARTBEAT))
        await rec.wait_for(lambda _: len(rec.of(MessageKind.HEARTBEAT)) >= beats + 5)
        assert not rec.of(MessageKind.CAPACITY)
        hung = [int(line) for line in leaders.read_text().split()]
        flag.unlink()
        msg = await rec.wait_for(of_kind(MessageKind.CAPACITY), timeout_s=30)
    assert isinstance(msg.payload, Capacity)
    assert msg.payload.cpu_cores == Resource(total=32, available=20)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=15) == 0
    log = agents.log_of(proc)
    assert "WARNING agents.capacity: capacity source command failed (failure 1): " in log
    assert "capacity source command works again" in log
    assert "Traceback" not in log
    await eventually(lambda: not any(live_pids(pgid) for pgid in hung))

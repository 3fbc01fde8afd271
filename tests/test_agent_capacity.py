"""Capacity sources: Slurm output, a capacity command, the host, and failures that never stop."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from agents.capacity import CapacityReading, CapacitySourceError, CapacityTracker
from agents.capacity.command import CommandSource
from agents.capacity.host import HostSource
from agents.capacity.slurm import MIB, SlurmSource, cpu_counts, parse_nodes, reading_from_nodes
from agents.protocol import Capacity, MessageKind, Resource
from tests.agent_harness import AgentProcesses, Recorder, of_kind
from tests.services import Mosquitto

FIXTURES = Path(__file__).parent / "fixtures" / "slurm"
FAKE_SCONTROL = (sys.executable, str(FIXTURES / "fake_scontrol.py"))


def test_slurm_counts_cpus_like_sinfo_and_excludes_drained_and_down_nodes() -> None:
    """Slurm 23 output: drained, draining and down nodes count as 'other' and offer nothing."""
    nodes = parse_nodes((FIXTURES / "scontrol_show_node_23.txt").read_text())
    assert [n.name for n in nodes if not n.usable] == ["cn003", "cn004", "gpu003"]
    cpus = cpu_counts(nodes)
    assert (cpus.allocated, cpus.idle, cpus.other, cpus.total) == (144, 112, 192, 448)
    reading = reading_from_nodes(nodes)
    assert reading.cpu_cores == Resource(total=448, available=112)
    # GRES gpu:a100:4 and gpu:h100:8; allocated from AllocTRES gres/gpu; gpu003 is draining.
    assert reading.gpus == Resource(total=16, available=5)
    assert reading.memory_bytes == Resource(total=3_089_000 * MIB, available=765_784 * MIB)
    assert reading.storage_bytes is None


def test_slurm_reads_older_gres_used_fields_and_down_star_state() -> None:
    """Slurm 17 output: GPUs in use come from GresUsed; a DOWN* node offers nothing."""
    nodes = parse_nodes((FIXTURES / "scontrol_show_node_17.txt").read_text())
    assert [n.usable for n in nodes] == [True, True, False]
    reading = reading_from_nodes(nodes)
    assert reading.cpu_cores == Resource(total=84, available=28)
    assert reading.gpus == Resource(total=6, available=2)
    assert reading.memory_bytes == Resource(total=384_000 * MIB, available=192_000 * MIB)


def test_slurm_without_gpus_reports_no_gpu_resource() -> None:
    """A cluster with no GRES reports CPUs and memory but no GPUs."""
    lines = (FIXTURES / "scontrol_show_node_23.txt").read_text().splitlines()[:2]
    assert reading_from_nodes(parse_nodes("\n".join(lines))).gpus is None


@pytest.mark.parametrize(
    "text",
    ["", "slurm_load_node error: Unable to contact slurm controller\n", "NodeName=x CPUTot=lots"],
)
def test_slurm_rejects_unusable_output(text: str) -> None:
    """Empty, foreign or malformed scontrol output is an error, not a zero capacity."""
    with pytest.raises(CapacitySourceError):
        parse_nodes(text)


async def test_slurm_source_runs_scontrol() -> None:
    """The slurm source runs ``scontrol show node --oneliner`` and sums the cluster."""
    argv = (*FAKE_SCONTROL, str(FIXTURES / "scontrol_show_node_23.txt"))
    reading = await SlurmSource(argv, timeout_s=10).read()
    assert reading.gpus == Resource(total=16, available=5)


async def test_command_source_reads_the_json_a_program_prints() -> None:
    """A capacity command's JSON becomes the reading (unknown keys ignored)."""
    script = 'print(\'{"cpu_cores": {"total": 8, "available": 3.5}, "note": "x"}\')'
    reading = await CommandSource((sys.executable, "-c", script), timeout_s=10).read()
    assert reading == CapacityReading(cpu_cores=Resource(total=8, available=3.5))


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        ("print('cores: lots')", "not JSON"),
        ('print(\'{"cpu_cores": {"total": "eight", "available": 1}}\')', "bad capacity JSON"),
        ('print(\'{"gpus": {"total": 2, "available": 3}}\')', "exceeds total"),
        ("print('[1, 2]')", "bad capacity JSON"),
        ("import sys; sys.exit('no permission to read the inventory')", "exited with status 1"),
    ],
)
async def test_command_source_rejects_bad_output(script: str, problem: str) -> None:
    """Output that is not capacity JSON, or a failing program, is a clear error."""
    with pytest.raises(CapacitySourceError, match=problem):
        await CommandSource((sys.executable, "-c", script), timeout_s=10).read()


async def test_command_source_kills_a_program_that_hangs() -> None:
    """A command that outlives its timeout is killed and reported, without waiting for it."""
    started = time.monotonic()
    with pytest.raises(CapacitySourceError, match=r"timed out after 0\.5 s and was killed"):
        await CommandSource((sys.executable, "-c", "import time; time.sleep(60)"), 0.5).read()
    assert time.monotonic() - started < 10


async def test_command_source_reports_a_missing_program() -> None:
    """A program that does not exist is an error naming it."""
    with pytest.raises(CapacitySourceError, match="cannot run `/nonexistent/inventory`: "):
        await CommandSource(("/nonexistent/inventory",), 1).read()


async def test_a_failing_source_is_counted_and_the_last_good_value_kept(tmp_path: Path) -> None:
    """After a good reading, failures are counted and the last good reading is still served."""
    flag = tmp_path / "broken"
    script = (
        "import pathlib, sys\n"
        f"if pathlib.Path({str(flag)!r}).exists(): sys.exit('inventory down')\n"
        'print(\'{"cpu_cores": {"total": 16, "available": 9}}\')\n'
    )
    tracker = CapacityTracker(CommandSource((sys.executable, "-c", script), 10), "hub-north")
    good = await tracker.read()
    flag.touch()
    assert await tracker.read() == good
    assert await tracker.read() == good
    assert good is not None
    assert good.cpu_cores == Resource(total=16, available=9)
    assert tracker.failures == 2


async def test_host_source_reads_this_machine() -> None:
    """The host source reports cores, memory and disk, each with available <= total."""
    reading = (await HostSource("/").read()).check()
    for res in (reading.cpu_cores, reading.memory_bytes, reading.storage_bytes):
        assert res is not None
        assert 0 <= res.available <= res.total
        assert res.total > 0


async def test_agent_with_slurm_source_publishes_cluster_capacity(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """An agent configured for Slurm publishes what scontrol reports."""
    scontrol = " ".join((*FAKE_SCONTROL, str(FIXTURES / "scontrol_show_node_23.txt")))
    agents.start(
        "--center", "hpc-south", "--broker", mosquitto.url, "--no-probe-responder",
        "--capacity-source", "slurm", "--scontrol", scontrol,
    )  # fmt: skip
    async with Recorder(mosquitto.port, "hpc-south") as rec:
        msg = await rec.wait_for(of_kind(MessageKind.CAPACITY))
    assert isinstance(msg.payload, Capacity)
    assert msg.payload.cpu_cores == Resource(total=448, available=112)
    assert msg.payload.gpus == Resource(total=16, available=5)


async def test_agent_with_a_broken_command_keeps_running(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """A capacity command that always fails is logged; heartbeats carry on, nothing crashes."""
    proc = agents.start(
        "--center", "prov-hue", "--broker", mosquitto.url, "--no-probe-responder",
        "--heartbeat-interval", "0.2", "--capacity-check-interval", "0.2",
        "--capacity-source", "command", "--capacity-command", f"{sys.executable} -c 'print(42)'",
    )  # fmt: skip
    async with Recorder(mosquitto.port, "prov-hue") as rec:
        await rec.wait_for(lambda m: len(rec.of(MessageKind.HEARTBEAT)) >= 5)
    assert not rec.of(MessageKind.CAPACITY)
    assert proc.poll() is None
    log = agents.log_of(proc)
    assert "capacity source command failed (failure 1)" in log
    assert "Traceback" not in log

"""The console against a live aggregator: filters, totals, units, errors in the words of the
command line, events (listed and followed), and output into a pipe that closes early."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import IO

import pytest

from monitor.commands.capacity import narrowed
from tests.aggregator_harness import (
    Centers,
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
TB = 10**12

pytestmark = pytest.mark.integration


def dcmon(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a command that failed with status 1 (asserted)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
async def federation(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[tuple[str, Centers]]:
    """A live aggregator over the small registry, every center publishing, with capacity."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        async with running_centers(mosquitto.port) as agents:
            storage = {"ndc-a": 500, "ndc-b": 80, "prov-c": 120, "prov-d": 300}
            for center, terabytes in storage.items():
                await agents.report_capacity(
                    center, storage_bytes=(1000 * TB, terabytes * TB), gpus=(16, 4)
                )
            await eventually(lambda: "unknown" not in live.statuses().values())
            await eventually(lambda: len(live.json("/api/v1/capacity")["centers"]) == 4)
            yield live.url, agents


async def test_status_and_links_filter_by_region_and_tier(
    federation: tuple[str, Centers],
) -> None:
    """--region and --tier keep only the centers (and links with an end) there, and say so."""
    url, _ = federation
    south, provincial, links = await asyncio.gather(
        asyncio.to_thread(dcmon, "status", "--url", url, "--region", "south", "--all"),
        asyncio.to_thread(dcmon, "status", "--url", url, "--tier", "provincial", "--all"),
        asyncio.to_thread(dcmon, "links", "--url", url, "--region", "central", "--all"),
    )
    assert south.returncode == 0, south.stderr
    lines = south.stdout.splitlines()
    assert lines[0] == "2 centers in region south: 1 connected, 1 degraded — 100.0 % connected"
    assert lines[1] == "connected by tier: national 1/1, provincial 1/1"
    assert {line.split()[1] for line in lines[4:]} == {"ndc-b", "prov-d"}
    assert provincial.stdout.splitlines()[0].startswith("2 centers in tier provincial:")
    assert links.returncode == 0, links.stderr
    assert links.stdout.splitlines()[0] == "2 links in region central: 2 up"
    assert {line.split()[1] for line in links.stdout.splitlines()[3:]} == {
        "ndc-a--prov-c",
        "ndc-b--prov-c",
    }


async def test_an_unknown_region_or_tier_is_one_line_listing_the_valid_ones(
    federation: tuple[str, Centers],
) -> None:
    """A region or tier that does not exist is refused with the flag and the valid values."""
    url, _ = federation
    for command in ("status", "capacity", "links"):
        region = await asyncio.to_thread(dcmon, command, "--url", url, "--region", "atlantis")
        assert one_line_error(region) == (
            f"dcmon {command}: --region: 'atlantis' is not one of north, south, central"
        )
    tier = await asyncio.to_thread(dcmon, "status", "--url", url, "--tier", "hcp")
    assert one_line_error(tier) == (
        "dcmon status: --tier: 'hcp' is not one of national, regional, hpc, provincial"
    )


async def test_capacity_candidates_take_human_units_and_end_with_their_total(
    federation: tuple[str, Centers],
) -> None:
    """--min 100TB finds the centers with at least 100 TB free, lists them without the tier
    table, and totals what they offer."""
    url, _ = federation
    query = ("--resource", "storage_bytes", "--from", "prov-c", "--min", "100TB")
    table, answer = await asyncio.gather(
        asyncio.to_thread(dcmon, "capacity", "--url", url, *query),
        asyncio.to_thread(dcmon, "capacity", "--url", url, *query, "--json"),
    )
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == ("Candidates for storage_bytes (from prov-c, at least 100.0 TB):")
    assert "TIER" in lines[1]
    assert "CPU CORES" not in table.stdout
    assert sorted(line.split()[0] for line in lines[2:-1]) == ["ndc-a", "prov-c", "prov-d"]
    assert lines[-1] == "3 candidates: 920.0 TB storage_bytes available of 3.0 PB"
    assert json.loads(answer.stdout)["query"]["min"] == 100 * TB
    binary = await asyncio.to_thread(
        dcmon, "capacity", "--url", url, *query[:4], "--min", "400TiB", "--json"
    )
    assert [c["center"] for c in json.loads(binary.stdout)["candidates"]] == ["ndc-a"]


async def test_capacity_totals_narrow_to_a_region_exactly_as_the_aggregator_counts(
    federation: tuple[str, Centers],
) -> None:
    """`capacity --region south` shows the same total as the API's own per-region figure."""
    url, _ = federation
    result = await asyncio.to_thread(dcmon, "capacity", "--url", url, "--region", "south")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Available / total capacity in connected centers in region south (2 centers counted):"
    )
    assert lines[-1].split()[0] == "all"
    assert "380.0 TB / 2.0 PB" in lines[-1]
    whole = json.loads((await asyncio.to_thread(dcmon, "capacity", "--url", url, "--json")).stdout)
    centers = json.loads(
        (
            await asyncio.to_thread(dcmon, "status", "--url", url, "--json", "--region", "south")
        ).stdout
    )["centers"]
    assert narrowed(whole, centers)["all"] == whole["by_region"]["south"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--resource", "gpus"],
            "--from: required with --resource (the center the work comes from)",
        ),
        (["--max-rtt-ms", "5"], "--max-rtt-ms: needs --resource as well"),
        (["--min", "8"], "--min: needs --resource as well"),
        (
            ["--resource", "gpus", "--from", "prov-c", "--min", "8GB"],
            "--min: '8GB': gpus are counted, not measured; give a number like 8",
        ),
        (
            ["--resource", "gpus", "--from", "atlantis"],
            "--from: 'atlantis' is not a registered center",
        ),
        (["--whatif-down", "atlantis"], "--whatif-down: "),
    ],
)
async def test_capacity_errors_name_the_flag_the_user_typed(
    federation: tuple[str, Centers], args: list[str], message: str
) -> None:
    """The API's `bad parameter from: … resource=` comes out as `--from: … --resource`."""
    url, _ = federation
    line = one_line_error(await asyncio.to_thread(dcmon, "capacity", "--url", url, *args))
    assert line.startswith(f"dcmon capacity: {message}")
    assert "bad parameter" not in line
    assert "=" not in line


async def test_events_list_the_changes_typed_and_the_startup_crowd_as_one_line(
    federation: tuple[str, Centers],
) -> None:
    """`dcmon events` prints center, link and incident events; a down hub's events are there,
    and --type keeps one kind."""
    url, agents = federation
    await agents.fail("ndc-b")
    await eventually(lambda: "inc-" in dcmon("events", "--url", url, "--type", "incident").stdout)
    listed = await asyncio.to_thread(dcmon, "events", "--url", url)
    assert listed.returncode == 0, listed.stderr
    kinds = {line.split()[2] for line in listed.stdout.splitlines()}
    assert kinds == {"center", "link", "incident"}
    assert any("ndc-b connected -> down" in line for line in listed.stdout.splitlines())
    links = await asyncio.to_thread(dcmon, "events", "--url", url, "--type", "link")
    assert {line.split()[2] for line in links.stdout.splitlines()} == {"link"}
    as_json = await asyncio.to_thread(dcmon, "events", "--url", url, "--json", "--limit", "3")
    assert len([json.loads(line) for line in as_json.stdout.splitlines()]) == 3


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


async def test_events_follow_streams_new_events_and_ctrl_c_exits_130_quietly(
    federation: tuple[str, Centers],
) -> None:
    """--follow prints an event that happens after it started, until SIGINT: exit 130, no
    traceback."""
    url, agents = federation
    with subprocess.Popen(
        [sys.executable, "-m", "monitor", "events", "--follow", "--url", url, "--limit", "1"],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as follower:
        code, errors = await _follow_prov_d_down(follower, agents)
    assert code == 130
    assert errors == ""


async def _follow_prov_d_down(follower: subprocess.Popen[str], agents: Centers) -> tuple[int, str]:
    """Wait for the follower to print prov-d going down, then Ctrl-C it: (exit code, stderr)."""
    try:
        assert follower.stdout is not None
        reader = _lines(follower.stdout)
        await asyncio.to_thread(next, reader)  # the one recent event: it is running
        await asyncio.sleep(0.5)  # the stream is open: SSE clients subscribe when they connect
        await agents.fail("prov-d")

        async def saw_prov_d_down() -> None:
            while True:
                line = await asyncio.to_thread(next, reader)
                if "center    prov-d degraded -> down" in line:
                    return

        await asyncio.wait_for(saw_prov_d_down(), 30)
        follower.send_signal(signal.SIGINT)
        code = await asyncio.to_thread(follower.wait, 30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.stderr is not None
    return code, follower.stderr.read()


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--json"],
        ["status", "--all"],
        ["capacity"],
        ["events"],
        ["events", "--follow"],
        ["links", "--all"],
    ],
)
async def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly_with_0(
    federation: tuple[str, Centers], args: list[str]
) -> None:
    """`dcmon status --json | head -c 100`: no BrokenPipeError traceback, exit status 0."""
    url, agents = federation
    with subprocess.Popen(
        [sys.executable, "-m", "monitor", *args, "--url", url],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as command:
        assert command.stdout is not None
        assert command.stderr is not None
        command.stdout.close()  # the reader is gone before the first write: EPIPE guaranteed
        if "--follow" in args:
            await asyncio.sleep(1)
            await agents.fail("prov-d")  # an event to write into the closed pipe
        code = await asyncio.to_thread(command.wait, 30)
        errors = command.stderr.read()
    assert (code, errors) == (0, b"")

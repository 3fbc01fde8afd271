"""Link probes against a real peer agent, a closed port, and a blackholed listener."""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Iterator

import pytest

from agents.probe import PeerAddress, Prober, ProbeResponder
from agents.protocol import Heartbeat, LinkReport, MessageKind
from tests.agent_harness import AgentProcesses, Recorder, is_state
from tests.services import Mosquitto, free_port


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port whose listener never accepts and never answers (the kernel still handshakes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


async def test_prober_measures_a_responder_and_fails_closed_and_blackholed_ports(
    blackhole: int,
) -> None:
    """Against an echo responder: reachable with RTT and no loss; a closed port and a silent
    listener: unreachable, loss 1, no RTT — all within count x timeout, concurrently."""
    responder = ProbeResponder("127.0.0.1", 0)
    await responder.start()
    try:
        prober = Prober(
            [
                PeerAddress("up", "127.0.0.1", responder.port),
                PeerAddress("refusing", "127.0.0.1", free_port()),
                PeerAddress("blackholed", "127.0.0.1", blackhole),
            ],
            count=3,
            timeout_s=0.3,
        )
        async with asyncio.timeout(0.3 * 3 + 5):
            up, refusing, blackholed = await prober()
    finally:
        await responder.close()
    assert (up.peer, up.reachable, up.loss_ratio) == ("up", True, 0)
    assert up.rtt_s is not None
    assert 0 < up.rtt_s < 0.3
    for probe in (refusing, blackholed):
        assert (probe.reachable, probe.rtt_s, probe.loss_ratio) == (False, None, 1.0)


async def test_agent_reports_each_peer_and_keeps_beating_while_a_peer_is_blackholed(
    mosquitto: Mosquitto, agents: AgentProcesses, blackhole: int
) -> None:
    """One agent probes a real peer agent (up), a closed port and a blackholed listener: its
    links report says which is which, and slow probes never delay its heartbeats."""
    peer_port = free_port()
    common = ("--broker", mosquitto.url, "--probe-host", "127.0.0.1", "--capacity-source", "static",
              "--static-capacity", '{"cpu_cores": {"total": 4, "available": 4}}')  # fmt: skip
    agents.start("--center", "hub-south", "--probe-port", str(peer_port), *common)
    agents.start(
        "--center", "hub-north", "--probe-port", str(free_port()), *common,
        "--heartbeat-interval", "0.2", "--probe-interval", "0.5",
        "--probe-timeout", "1.0", "--probe-count", "2",
        "--peer", f"hub-south=127.0.0.1:{peer_port}",
        "--peer", f"hub-central=127.0.0.1:{free_port()}",
        "--peer", f"hpc-north=127.0.0.1:{blackhole}",
    )  # fmt: skip
    async with Recorder(mosquitto.port, "hub-north") as rec:
        await rec.wait_for(is_state("online"))
        # The peer agent may still be starting during the first round; wait for it to be up.
        first = await rec.wait_for(
            lambda m: isinstance(m.payload, LinkReport) and m.payload.probes[0].reachable
        )
        index = rec.messages.index(first)
        await rec.wait_for(lambda m: m.kind is MessageKind.LINKS, after=index + 1)
    report = first.payload
    assert isinstance(report, LinkReport)
    probes = {p.peer: p for p in report.probes}
    assert list(probes) == ["hub-south", "hub-central", "hpc-north"]
    assert probes["hub-south"].reachable
    loss = probes["hub-south"].loss_ratio
    assert loss is not None
    assert loss < 1  # the peer agent may still be starting: one echo may be lost
    for peer in ("hub-central", "hpc-north"):
        assert (probes[peer].reachable, probes[peer].rtt_s, probes[peer].loss_ratio) == (
            False,
            None,
            1.0,
        )
    # Each probe round takes ~2 s (blackholed peer); heartbeats every 0.2 s carry on meanwhile.
    beats = [m for m in rec.of(MessageKind.HEARTBEAT) if isinstance(m.payload, Heartbeat)]
    gaps = [b.at - a.at for a, b in itertools.pairwise(beats)]
    assert len(beats) >= 15
    assert max(gaps) < 1.0

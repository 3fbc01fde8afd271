"""A real agent process against a real mosquitto: what it publishes, how it dies and recovers."""

from __future__ import annotations

import asyncio
import signal
import time

from agents.protocol import Capacity, CenterState, Heartbeat, LinkReport, MessageKind, Resource
from tests.agent_harness import AgentProcesses, Recorder, is_state, of_kind, retained
from tests.services import Mosquitto, free_port

STATIC = '{"cpu_cores": {"total": 64, "available": 40}, "gpus": {"total": 8, "available": 2}}'


def fast_agent(center: str, broker: str, *extra: str) -> tuple[str, ...]:
    """Flags of an agent with short intervals, a static capacity and its own probe port."""
    return (
        "--center", center, "--broker", broker,
        "--heartbeat-interval", "0.3", "--probe-interval", "0.5", "--probe-timeout", "0.5",
        "--capacity-source", "static", "--static-capacity", STATIC,
        "--probe-host", "127.0.0.1", "--probe-port", str(free_port()),
        "--reconnect-base", "0.1", "--reconnect-cap", "1", *extra,
    )  # fmt: skip


async def test_birth_heartbeat_capacity_and_links_follow_the_protocol(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """An agent announces itself (retained birth with its intervals), then beats, reports
    capacity (retained) and link probes (retained), all in one session with growing seq."""
    peer_port = free_port()
    agents.start(*fast_agent("hub-south", mosquitto.url)[:-6], "--probe-port", str(peer_port))
    agents.start(
        *fast_agent("hub-north", mosquitto.url), "--peer", f"hub-south=127.0.0.1:{peer_port}"
    )
    async with Recorder(mosquitto.port, "hub-north") as rec:
        birth = await rec.wait_for(is_state("online"))
        links = await rec.wait_for(
            lambda m: isinstance(m.payload, LinkReport) and m.payload.probes[0].reachable
        )
        await rec.wait_for(of_kind(MessageKind.CAPACITY))
        await rec.wait_for(lambda m: len(rec.of(MessageKind.HEARTBEAT)) >= 3)

    assert not rec.errors
    state = birth.payload
    assert isinstance(state, CenterState)
    assert (state.center, state.heartbeat_interval_s, state.probe_interval_s) == (
        "hub-north",
        0.3,
        0.5,
    )
    assert state.agent is not None
    assert state.agent.startswith("dcmon-agent/")
    assert (birth.qos, state.reason) == (1, None)

    beats = list(rec.of(MessageKind.HEARTBEAT))
    assert all(isinstance(b.payload, Heartbeat) and b.qos == 0 and not b.retain for b in beats)
    seqs = [b.payload.seq for b in beats if isinstance(b.payload, Heartbeat)]
    assert seqs == sorted(set(seqs))
    assert {b.payload.session for b in beats if isinstance(b.payload, Heartbeat)} == {state.session}

    capacity = rec.of(MessageKind.CAPACITY)[0].payload
    assert isinstance(capacity, Capacity)
    assert capacity.session == state.session
    assert capacity.cpu_cores == Resource(total=64, available=40)
    assert capacity.gpus == Resource(total=8, available=2)
    assert capacity.memory_bytes is None

    report = links.payload
    assert isinstance(report, LinkReport)
    assert report.session == state.session
    (probe,) = report.probes
    assert probe.peer == "hub-south"
    assert probe.reachable
    assert probe.rtt_s is not None
    assert 0 < probe.rtt_s < 2.0
    # A loaded machine may lose one echo of a round; the peer is still reached.
    assert probe.loss_ratio is not None
    assert probe.loss_ratio < 1

    # Late subscribers get the retained birth, capacity and links at once.
    async with Recorder(mosquitto.port, "hub-north") as late:
        for kind in (MessageKind.STATE, MessageKind.CAPACITY, MessageKind.LINKS):
            kept = await late.wait_for(retained(kind))
            assert kept.qos == 1


async def test_sigkill_makes_the_broker_deliver_the_will_within_a_second(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """A killed agent's will (offline, lost, same session) reaches subscribers within 1 s."""
    proc = agents.start(
        "--center", "prov-ha-noi", "--broker", mosquitto.url, "--no-probe-responder"
    )
    async with Recorder(mosquitto.port, "prov-ha-noi") as rec:
        birth = await rec.wait_for(is_state("online"))
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        will = await rec.wait_for(is_state("offline"))
    assert isinstance(will.payload, CenterState)
    assert isinstance(birth.payload, CenterState)
    assert (will.payload.reason, will.payload.session) == ("lost", birth.payload.session)
    assert will.at - killed_at < 1.0


async def test_sigterm_and_sigint_publish_shutdown_and_exit_zero(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """SIGTERM or SIGINT: offline with reason shutdown (retained), then a clean exit 0."""
    for number, sig in enumerate((signal.SIGTERM, signal.SIGINT)):
        center = f"prov-hue-{number}"
        proc = agents.start("--center", center, "--broker", mosquitto.url, "--no-probe-responder")
        async with Recorder(mosquitto.port, center) as rec:
            await rec.wait_for(is_state("online"))
            proc.send_signal(sig)
            await rec.wait_for(is_state("offline", "shutdown"))
            code = await asyncio.to_thread(proc.wait, 5)
        assert code == 0
        assert not [m for m in rec.messages if is_state("offline", "lost")(m)]
        async with Recorder(mosquitto.port, center) as late:
            kept = await late.wait_for(is_state("offline"))
        assert kept.retain
        assert isinstance(kept.payload, CenterState)
        assert kept.payload.reason == "shutdown"


async def test_agent_waits_for_a_broker_that_is_down_at_start(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """A broker down at start is not fatal: the agent retries (one WARNING line per attempt)."""
    mosquitto.stop()
    proc = agents.start(*fast_agent("hpc-north", mosquitto.url))
    await asyncio.sleep(1.5)
    assert proc.poll() is None
    mosquitto.start()
    async with Recorder(mosquitto.port, "hpc-north") as rec:
        await rec.wait_for(is_state("online"))
    log = agents.log_of(proc)
    attempts = [line for line in log.splitlines() if "cannot reach broker" in line]
    assert len(attempts) >= 2
    assert all(" WARNING " in line for line in attempts)
    assert "attempt 1:" in attempts[0]
    assert "attempt 2:" in attempts[1]


async def test_agent_republishes_everything_after_the_broker_restarts(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """Broker killed and restarted (retained state lost): within the backoff cap the agent is
    back with its birth, capacity and links, in the same session."""
    peer_port = free_port()
    agents.start(*fast_agent("hub-south", mosquitto.url)[:-6], "--probe-port", str(peer_port))
    proc = agents.start(
        *fast_agent("hub-north", mosquitto.url), "--peer", f"hub-south=127.0.0.1:{peer_port}"
    )
    async with Recorder(mosquitto.port, "hub-north") as rec:
        birth = await rec.wait_for(is_state("online"))
        await rec.wait_for(of_kind(MessageKind.LINKS))
        await rec.wait_for(of_kind(MessageKind.CAPACITY))
    mosquitto.stop()
    await asyncio.sleep(1.0)
    mosquitto.start()
    restarted_at = time.monotonic()
    async with Recorder(mosquitto.port, "hub-north") as rec:
        again = await rec.wait_for(is_state("online"))
        await rec.wait_for(of_kind(MessageKind.CAPACITY))
        await rec.wait_for(of_kind(MessageKind.LINKS))
        back_after = time.monotonic() - restarted_at
    async with Recorder(mosquitto.port, "hub-north") as late:
        for kind in (MessageKind.STATE, MessageKind.CAPACITY, MessageKind.LINKS):
            await late.wait_for(retained(kind))
    assert isinstance(again.payload, CenterState)
    assert isinstance(birth.payload, CenterState)
    assert again.payload.session == birth.payload.session
    # Backoff cap is 1 s; allow generous slack for a loaded machine.
    assert back_after < 1.0 + 5.0
    assert proc.poll() is None
    assert "lost the connection to broker" in agents.log_of(proc)

"""A real agent process against a real mosquitto: births and wills name their connection."""

from __future__ import annotations

import asyncio
import signal

from agents.protocol import CenterState
from tests.agent_harness import AgentProcesses, Recorder, is_state
from tests.services import Mosquitto


def _state(payload: object) -> CenterState:
    assert isinstance(payload, CenterState)
    return payload


async def test_a_reconnect_gets_a_newer_connection_and_the_will_names_its_own(
    mosquitto: Mosquitto, agents: AgentProcesses
) -> None:
    """After the broker restarts, the birth carries a higher connection number in the same
    session; when the agent is then killed, its will carries that same number."""
    proc = agents.start(
        "--center", "prov-hue", "--broker", mosquitto.url, "--heartbeat-interval", "0.3",
        "--reconnect-base", "0.1", "--reconnect-cap", "1", "--no-probe-responder",
    )  # fmt: skip
    async with Recorder(mosquitto.port, "prov-hue") as rec:
        first = _state((await rec.wait_for(is_state("online"))).payload)
    mosquitto.stop()
    await asyncio.sleep(0.5)
    mosquitto.start()
    async with Recorder(mosquitto.port, "prov-hue") as rec:
        second = _state(
            (await rec.wait_for(lambda m: is_state("online")(m) and m.payload != first)).payload
        )
        proc.send_signal(signal.SIGKILL)
        will = _state((await rec.wait_for(is_state("offline", "lost"))).payload)
    assert first.connection is not None
    assert second.connection is not None
    assert second.session == first.session == will.session
    assert second.connection > first.connection
    assert will.connection == second.connection

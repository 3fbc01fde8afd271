"""The demo watching its own parts: a broker that dies is said once and restarted; simulated
agents that lose the broker are summed up in two lines, not one per reconnect attempt."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from monitor.demo.broker import BrokerUnavailable, DemoBroker
from monitor.simulation.federation import Simulator

Say = Callable[[str], None]

BROKER_POLL_S: Final = 0.5
RESTART_DELAY_S: Final = 15.0
"""How long the demo shows the monitor blind before it restarts a dead broker."""
MAX_RESTARTS: Final = 3
"""More broker deaths than this within ``RESTART_WINDOW_S`` end the demo (something is wrong)."""
RESTART_WINDOW_S: Final = 180.0
AGENT_POLL_S: Final = 1.0
AGENT_OUTAGE_S: Final = 2.0
"""Agents cut off shorter than this (a restart after ``fault heal``) are not news."""


async def keep_broker_alive(broker: DemoBroker, say: Say) -> str:
    """Restart the broker each time it dies (after ``RESTART_DELAY_S``, so that blind mode can
    be seen on the page), saying so once; return why it could not be (the demo then ends).
    Polling also reaps the dead broker: no zombie is left."""
    restarts: deque[float] = deque()
    while True:
        await asyncio.sleep(BROKER_POLL_S)
        pid = broker.process.pid
        reason = broker.exit_reason()
        if reason is None:
            continue
        now = time.monotonic()
        while restarts and now - restarts[0] > RESTART_WINDOW_S:
            restarts.popleft()
        if len(restarts) >= MAX_RESTARTS:
            return (
                f"the broker ({broker.kind}, pid {pid}) died ({reason}), the "
                f"{len(restarts) + 1}th time within {RESTART_WINDOW_S:.0f} s"
            )
        say(
            f"the broker ({broker.kind}, pid {pid}) died ({reason}): the monitor is blind; "
            f"restarting the broker on {broker.url} in {RESTART_DELAY_S:.0f} s"
        )
        await asyncio.sleep(RESTART_DELAY_S)
        try:
            await asyncio.to_thread(broker.restart)
        except BrokerUnavailable as exc:
            return f"the broker died ({reason}) and could not be restarted: {exc}"
        restarts.append(now)
        say(f"broker back: {broker.description}; the aggregator and the agents reconnect")


async def report_agent_outages(simulator: Simulator, say: Say) -> None:
    """One line when simulated agents have been cut off from the broker for a while, one when
    they are all back; nothing per agent or per attempt (they log those at DEBUG)."""
    settled = False  # every agent was connected once: from then on an outage is news
    missing_since: float | None = None
    said = False
    while True:
        await asyncio.sleep(AGENT_POLL_S)
        missing = simulator.agents_cut_off()
        now = time.monotonic()
        if not missing:
            if said and missing_since is not None:
                say(
                    f"all {len(simulator.agents)} simulated agents are connected again "
                    f"(after {now - missing_since:.0f} s)"
                )
            settled, missing_since, said = True, None, False
            continue
        if not settled:
            continue
        if missing_since is None:
            missing_since = now
        if not said and now - missing_since >= AGENT_OUTAGE_S:
            say(
                f"{missing} of {len(simulator.agents)} simulated agents cannot reach the broker; "
                "they retry with backoff (quiet until they are back)"
            )
            said = True

"""``dcmon-agent --once``: what this agent would publish, and whether it could, then exit.

For an operator checking a new install: the birth, the capacity and the link report it would
publish (topics and JSON), whether the broker answers (a TCP connection, and the TLS handshake
for ``mqtts://``; no MQTT session, so a running agent of the same center is not disturbed), and,
given the aggregator's URL, whether the aggregator knows this center at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Final, TextIO

import msgspec

from agents.agent import capacity_source, session_timing
from agents.broker import BrokerAddress
from agents.capacity import CapacityTracker
from agents.config import AgentConfig
from agents.probe import PeerAddress, Prober, why_failed
from agents.protocol import QOS, RETAIN, MessageKind, Payload, center_topic, encode
from agents.session import CenterSession

CHECK_TIMEOUT_S: Final = 5.0


async def check_once(
    config: AgentConfig,
    broker: BrokerAddress,
    peers: tuple[PeerAddress, ...],
    out: TextIO,
    *,
    aggregator_url: str | None = None,
) -> list[str]:
    """Print what would be published to ``out``; return the problems found (empty: ready)."""
    center = config.center
    tracker = CapacityTracker(capacity_source(config), center)
    prober = (
        Prober(peers, count=config.probe_count, timeout_s=config.probe_timeout_s) if peers else None
    )
    session = CenterSession(broker, center, session_timing(config), probes=prober)
    problems: list[str] = []
    print(f"dcmon-agent --once: {config.summary()}", file=out)
    _show(out, MessageKind.STATE, center, session.birth())
    reading = await tracker.read()
    if reading is None:
        source = tracker.source.name
        problems.append(f"the capacity source {source} gave no reading (the warning says why)")
    else:
        _show(out, MessageKind.CAPACITY, center, session.capacity_report(reading))
    if prober is None:
        print("\nno peers to probe (give --topology or --peer): no link report", file=out)
    else:
        probes = await prober()
        _show(out, MessageKind.LINKS, center, session.link_report(probes))
        problems.extend(
            f"peer {p.peer} is unreachable ({prober.last_error.get(p.peer, 'no answer')})"
            for p in probes
            if not p.reachable
        )
    print(file=out)
    trouble = await broker_trouble(broker)
    print(f"broker {broker.url}: {trouble or 'answers'}", file=out)
    if trouble:
        problems.append(f"the broker {broker.url} {trouble}")
    if aggregator_url is not None:
        found, trouble = await asyncio.to_thread(registration, aggregator_url, center)
        print(f"aggregator {aggregator_url}: {found or trouble}", file=out)
        if trouble:
            problems.append(trouble)
    return problems


def _show(out: TextIO, kind: MessageKind, center: str, payload: Payload) -> None:
    retained = "retained" if RETAIN[kind] else "not retained"
    print(f"\n{center_topic(center, kind)}  (QoS {QOS[kind]}, {retained})", file=out)
    print(msgspec.json.format(encode(payload), indent=2).decode(), file=out)


async def broker_trouble(broker: BrokerAddress) -> str | None:
    """Why the broker cannot be reached (TCP, and TLS for ``mqtts://``), or ``None``."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            _, writer = await asyncio.open_connection(
                broker.host, broker.port, ssl=broker.ssl_context()
            )
    except (TimeoutError, OSError) as exc:
        return f"cannot be reached ({why_failed(exc, CHECK_TIMEOUT_S)})"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


def registration(url: str, center: str) -> tuple[str | None, str | None]:
    """Ask the aggregator at ``url`` about ``center``: (what it says, None) or (None, trouble)."""
    where = f"{url.rstrip('/')}/api/v1/centers/{urllib.parse.quote(center)}"
    try:
        with urllib.request.urlopen(where, timeout=CHECK_TIMEOUT_S) as response:
            view = json.loads(response.read()).get("center") or {}
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None, (
                f"the aggregator at {url} does not know center {center!r}: it drops everything "
                "this agent publishes; add the center to its registry (topology.yaml) and reload it"
            )
        return None, f"the aggregator at {url} answered HTTP {exc.code} about {center!r}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, f"cannot ask the aggregator at {url} ({getattr(exc, 'reason', exc)})"
    return f"knows {center} (status {view.get('status', '?')})", None

"""The aggregator against a real mosquitto: hostile payloads are counted, never make it blind."""

from __future__ import annotations

from pathlib import Path

import aiomqtt
import pytest

from agents.protocol import MessageKind, center_topic
from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    write_small_topology,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration

NESTING_BOMB = b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}"


async def test_a_retained_nesting_bomb_is_rejected_and_the_aggregator_stays_ready(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """A retained capacity nested 1000 deep, a non-UTF-8 unknown field and a session of 2**63
    are counted (too_deep, malformed_json, wrong_type); the aggregator syncs and is not blind."""
    sends = [
        (center_topic("ndc-a", MessageKind.CAPACITY), NESTING_BOMB),
        (
            center_topic("ndc-b", MessageKind.CAPACITY),
            b'{"v":1,"session":1,"seq":1,"ts":1,"note":"\xff\xfe"}',
        ),
        (
            center_topic("prov-c", MessageKind.CAPACITY),
            b'{"v":1,"session":9223372036854775808,"seq":1,"ts":1}',
        ),
    ]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        for topic, payload in sends:
            await client.publish(topic, payload, qos=1, retain=True)
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    # Started after the publishes, so the bomb arrives with the retained picture at subscribe.
    with LiveAggregator(config) as live:
        await eventually(lambda: live.get("/readyz")[0] == 200, timeout_s=10)
        expected = {"too_deep": 1.0, "malformed_json": 1.0, "wrong_type": 1.0}
        await eventually(
            lambda: all(
                live.metric(f'dcmon_messages_rejected_total{{reason="{reason}"}}') == n
                for reason, n in expected.items()
            ),
            timeout_s=10,
        )
        assert live.metric("dcmon_broker_connected") == 1.0
        assert live.metric("dcmon_aggregator_blind") == 0.0
        assert live.get("/readyz")[0] == 200

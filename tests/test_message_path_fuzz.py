"""Fuzzing the whole message path: broker → ingest → decode → engine, with a real mosquitto.

Whatever a client publishes under ``dcmon/v1/`` (random bytes, random JSON, structures nested
thousands deep, payloads near and over the size limit, valid messages with hostile extras), the
aggregator keeps its one broker connection and counts every message.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from agents.protocol import Heartbeat, MessageKind, center_topic, encode
from tests.aggregator_harness import (
    NEIGHBOURS,
    LiveAggregator,
    aggregator_config,
    write_small_topology,
)
from tests.services import Mosquitto, wait_until

pytestmark = pytest.mark.integration

CENTER_KINDS = (MessageKind.STATE, MessageKind.HEARTBEAT, MessageKind.CAPACITY, MessageKind.LINKS)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)
protocol_keys = st.sampled_from(
    ["v", "center", "status", "session", "seq", "ts", "heartbeat_interval_s", "probes", "gpus",
     "cpu_cores", "reason", "connection", "peer", "reachable", "rtt_s", "loss_ratio"]
)  # fmt: skip
near_valid = st.dictionaries(protocol_keys | st.text(max_size=8), json_values, max_size=10)


def _nested(depth: int, opener: bytes, closer: bytes, leaf: bytes = b"1") -> bytes:
    return b'{"v":1,"x":' + opener * depth + leaf + closer * depth + b"}"


payloads = st.one_of(
    st.binary(min_size=1, max_size=512),  # an empty retained publish deletes, not delivers
    json_values.map(lambda v: json.dumps(v).encode()),
    near_valid.map(lambda d: json.dumps(d).encode()),
    st.integers(1, 5000).map(lambda n: _nested(n, b"[", b"]")),
    st.integers(1, 3000).map(lambda n: _nested(n, b'{"a":', b"}")),
    st.integers(1, 5000).map(lambda n: _nested(n, b"[", b"", leaf=b"")),  # never closed
    st.integers(60_000, 70_000).map(lambda n: b'{"v":1,"pad":"' + b"a" * n + b'"}'),
    st.binary(min_size=1, max_size=64).map(lambda b: b'{"v":1,"session":1,"x":"' + b + b'"}'),
)
topics = st.one_of(
    st.tuples(st.sampled_from(sorted(NEIGHBOURS)), st.sampled_from(CENTER_KINDS)).map(
        lambda pair: center_topic(pair[0], pair[1])
    ),
    st.sampled_from(
        [
            "dcmon/v1/aggregators/other/state",
            "dcmon/v1/centers/not-registered/heartbeat",
            "dcmon/v1/centers/ndc-a/unknown-kind",
            "dcmon/v1/centers/NDC-A/heartbeat",
            "dcmon/v1/centers/ndc-a/heartbeat/extra",
        ]
    ),
)


def _received_total(live: LiveAggregator) -> float:
    total = 0.0
    for line in live.get("/metrics")[1].decode().splitlines():
        if line.startswith("dcmon_messages_received_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.timeout(600)
def test_no_payload_ends_the_aggregators_broker_connection(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Hundreds of hostile publishes: one connection throughout, every message counted."""
    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        wait_until(lambda: live.get("/readyz")[0] == 200, timeout_s=30)
        aggregator = live.aggregator
        assert aggregator is not None
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="fuzzer")
        client.connect("127.0.0.1", mosquitto.port)
        client.loop_start()
        published = 0
        try:
            before = _received_total(live)

            @settings(
                max_examples=300,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(topic=topics, payload=payloads, retain=st.booleans())
            def publish(topic: str, payload: bytes, retain: bool) -> None:
                nonlocal published
                client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
                published += 1

            publish()
            # A valid message last: once it is counted, everything before it was handled.
            marker = encode(Heartbeat(session=1, seq=1, ts=time.time()))
            client.publish(center_topic("ndc-a", MessageKind.HEARTBEAT), marker, qos=1)
            wait_until(lambda: _received_total(live) >= before + published + 1, timeout_s=60)
        finally:
            client.loop_stop()
            client.disconnect()
        assert aggregator.ingest.connection_attempts == 1
        assert live.metric("dcmon_broker_connected") == 1.0
        assert live.get("/readyz")[0] == 200
        statuses: dict[str, Any] = live.statuses()
        assert set(statuses) == set(NEIGHBOURS)

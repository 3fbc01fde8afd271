"""The shipped mosquitto configuration on a real broker: per-agent ACL, limits and a bridge."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import pytest

from agents import protocol
from agents.protocol import CenterState, Heartbeat, MessageKind
from tests.shipped_broker import ShippedBroker

PASSWORDS = {
    "aggregator": "aggregator-secret",
    "prov-lao-cai": "lao-cai-secret",
    "prov-son-la": "son-la-secret",
    "bridge-central": "bridge-secret",
}
_ids = itertools.count()


@pytest.fixture
def national(tmp_path: Path) -> Iterator[ShippedBroker]:
    """The national broker, started from config/mosquitto/mosquitto.conf."""
    broker = ShippedBroker(tmp_path / "national", "mosquitto.conf", PASSWORDS)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def client(broker: ShippedBroker, user: str | None, password: str | None = None) -> aiomqtt.Client:
    """An MQTT client logging in as ``user`` with its password from PASSWORDS."""
    return aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username=user,
        password=password if password is not None else PASSWORDS.get(user or ""),
        identifier=f"{user}-{next(_ids)}-{time.monotonic_ns()}",
    )


def heartbeat(seq: int) -> bytes:
    """A valid wire-protocol heartbeat."""
    return protocol.encode(Heartbeat(session=1, seq=seq, ts=time.time()))


async def received_topics(
    subscriber: aiomqtt.Client,
    until_topic: str,
    timeout_s: float = 15.0,
    topics: list[str] | None = None,
) -> list[str]:
    """Topics received (in order, appended to ``topics``) up to and including ``until_topic``."""
    topics = [] if topics is None else topics
    async with asyncio.timeout(timeout_s):
        async for message in subscriber.messages:
            topics.append(str(message.topic))
            if str(message.topic) == until_topic:
                return topics
    raise AssertionError("subscription ended")


@pytest.fixture
async def aggregator(national: ShippedBroker) -> AsyncIterator[aiomqtt.Client]:
    """The aggregator's account, subscribed to every dcmon topic on the national broker."""
    async with client(national, "aggregator") as subscriber:
        await subscriber.subscribe(protocol.SUBSCRIPTION, qos=1)
        yield subscriber


async def test_an_agent_cannot_publish_as_another_center(
    national: ShippedBroker, aggregator: aiomqtt.Client
) -> None:
    """Agent prov-lao-cai's message on prov-son-la's topic never reaches the aggregator."""
    forged = protocol.center_topic("prov-son-la", MessageKind.HEARTBEAT)
    own = protocol.center_topic("prov-lao-cai", MessageKind.HEARTBEAT)
    async with client(national, "prov-lao-cai") as agent:
        await agent.publish(forged, heartbeat(1), qos=1)
        await agent.publish(protocol.aggregator_topic("forged"), b"{}", qos=1)
        await agent.publish(own, heartbeat(2), qos=1)
    # Same client, QoS 1: had the forged messages passed, they would have arrived first.
    assert await received_topics(aggregator, own) == [own]


async def test_an_agent_can_publish_its_own_center_and_the_aggregator_reads_it(
    national: ShippedBroker, aggregator: aiomqtt.Client
) -> None:
    """Every kind of an agent's own messages (retained state included) reaches the aggregator."""
    kinds = [MessageKind.STATE, MessageKind.HEARTBEAT, MessageKind.CAPACITY, MessageKind.LINKS]
    topics = [protocol.center_topic("prov-son-la", kind) for kind in kinds]
    async with client(national, "prov-son-la") as agent:
        for topic in topics:
            await agent.publish(topic, b"{}", qos=1)
    assert await received_topics(aggregator, topics[-1]) == topics


async def test_a_client_without_credentials_or_with_a_wrong_password_is_refused(
    national: ShippedBroker,
) -> None:
    """Anonymous clients and wrong passwords cannot connect at all."""
    with pytest.raises(aiomqtt.MqttError):
        async with client(national, None):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with client(national, "prov-lao-cai", password="guess"):
            pass


async def test_a_payload_over_64_kib_is_dropped_by_the_broker(
    national: ShippedBroker, aggregator: aiomqtt.Client
) -> None:
    """message_size_limit: a payload over the protocol's 64 KiB never reaches the aggregator."""
    links = protocol.center_topic("prov-lao-cai", MessageKind.LINKS)
    own = protocol.center_topic("prov-lao-cai", MessageKind.HEARTBEAT)
    async with client(national, "prov-lao-cai") as agent:
        await agent.publish(links, b" " * (protocol.MAX_PAYLOAD_BYTES + 1), qos=0)
        await agent.publish(own, heartbeat(3), qos=0)
    assert await received_topics(aggregator, own) == [own]


async def test_a_bridged_regional_broker_delivers_its_agents_messages_to_the_national_side(
    tmp_path: Path, national: ShippedBroker, aggregator: aiomqtt.Client
) -> None:
    """An agent on the regional broker reaches the national aggregator; forgeries do not."""
    regional = ShippedBroker(
        tmp_path / "regional",
        "bridge-regional.conf",
        {"prov-lao-cai": PASSWORDS["prov-lao-cai"]},
        replacements={
            "address national-broker.example.org:1883": f"address 127.0.0.1:{national.port}",
            "remote_password CHANGE-ME": f"remote_password {PASSWORDS['bridge-central']}",
        },
    )
    regional.start()
    try:
        state = protocol.center_topic("prov-lao-cai", MessageKind.STATE)
        beat = protocol.center_topic("prov-lao-cai", MessageKind.HEARTBEAT)
        forged = protocol.center_topic("prov-son-la", MessageKind.HEARTBEAT)
        birth = protocol.encode(
            CenterState(
                center="prov-lao-cai",
                status="online",
                session=1,
                ts=time.time(),
                heartbeat_interval_s=5,
            )
        )
        deadline = time.monotonic() + 20
        topics: list[str] = []
        async with client(regional, "prov-lao-cai") as agent:
            await agent.publish(state, birth, qos=1, retain=True)
            await agent.publish(forged, heartbeat(1), qos=1)
            # The bridge may still be connecting: keep beating until one crosses it.
            while beat not in topics:
                assert time.monotonic() < deadline, regional.log()
                await agent.publish(beat, heartbeat(len(topics) + 2), qos=1)
                with contextlib.suppress(TimeoutError):
                    await received_topics(aggregator, beat, timeout_s=1.0, topics=topics)
        assert state in topics
        assert forged not in topics
        # The retained birth crossed the bridge as retained: a late subscriber still gets it.
        async with client(national, "aggregator") as late:
            await late.subscribe(state, qos=1)
            async with asyncio.timeout(10):
                message = await anext(aiter(late.messages))
            assert message.retain
            assert protocol.decode(str(message.topic), message.payload).payload == (
                protocol.decode(state, birth).payload
            )
    finally:
        regional.stop()

"""The shipped mosquitto configuration on a real broker: ACL, client identity, limits, a bridge."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest

from agents import protocol
from agents.protocol import CenterState, Heartbeat, MessageKind
from tests.certificates import authority, client_context, issue
from tests.shipped_broker import ShippedBroker

PASSWORDS = {
    "aggregator": "aggregator-secret",
    "prov-lao-cai": "lao-cai-secret",
    "prov-son-la": "son-la-secret",
    "bridge-central": "bridge-secret",
}
_ids = itertools.count()
VICTIM, ATTACKER = "prov-lao-cai", "prov-son-la"
CLIENT_ID_TIE = "use_username_as_clientid true\n"
UNTIED = {CLIENT_ID_TIE: "use_username_as_clientid false\n"}
TAKEOVERS = 14  # as many as issue 10 saw in 30 s


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


@dataclass(frozen=True)
class TakeoverOutcome:
    """What the aggregator and the victim saw while another account claimed the victim's id."""

    aggregator_saw: list[str]
    victim_still_subscribed: bool


async def claim_client_id(
    victim: aiomqtt.Client,
    attacker: Callable[[], aiomqtt.Client],
    aggregator: aiomqtt.Client,
) -> TakeoverOutcome:
    """``attacker()`` connects TAKEOVERS times with the victim's client id, forging its heartbeat.

    Then the victim (if it can) publishes its own heartbeat, and the aggregator a marker on its
    state topic, which the victim is subscribed to. A knocked-off victim shows as its will (state
    topic) at the aggregator, as a failed heartbeat, and as a lost subscription.
    """
    beat = protocol.center_topic(VICTIM, MessageKind.HEARTBEAT)
    marker = protocol.aggregator_topic("takeover-test")
    async with victim:
        await victim.subscribe(marker, qos=1)
        for seq in range(TAKEOVERS):
            async with attacker() as intruder:
                await intruder.publish(beat, heartbeat(seq), qos=1)
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(3):
                await victim.publish(beat, heartbeat(TAKEOVERS), qos=1)
        await aggregator.publish(marker, b"{}", qos=1)
        seen = await received_topics(aggregator, marker)
        try:
            async with asyncio.timeout(3):
                subscribed = str((await anext(aiter(victim.messages))).topic) == marker
        except (aiomqtt.MqttError, TimeoutError):
            subscribed = False
    return TakeoverOutcome(seen, subscribed)


def victim_with_will(port: int, tls: ssl.SSLContext | None = None) -> aiomqtt.Client:
    """The victim as the real agent connects: client id = center id, a will on its state topic.

    With ``tls`` (its certificate) it sends no user name: the broker takes the CN.
    """
    offline = protocol.encode(
        CenterState(center=VICTIM, status="offline", session=1, ts=time.time(), reason="lost")
    )
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=VICTIM if tls is None else None,
        password=PASSWORDS[VICTIM] if tls is None else None,
        identifier=VICTIM,
        will=aiomqtt.Will(protocol.center_topic(VICTIM, MessageKind.STATE), offline, qos=1),
        tls_context=tls,
    )


def impostor(port: int, tls: ssl.SSLContext | None = None) -> aiomqtt.Client:
    """Another center (its password, or its certificate) asking for the victim's client id."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=ATTACKER if tls is None else None,
        password=PASSWORDS[ATTACKER] if tls is None else None,
        identifier=VICTIM,
        tls_context=tls,
    )


def assert_victim_undisturbed(outcome: TakeoverOutcome) -> None:
    """No will (no flap) and none of the forged beats: the victim's own heartbeat, the marker."""
    own_beat = protocol.center_topic(VICTIM, MessageKind.HEARTBEAT)
    assert outcome.aggregator_saw == [own_beat, protocol.aggregator_topic("takeover-test")]
    assert outcome.victim_still_subscribed


def assert_victim_knocked_off(outcome: TakeoverOutcome) -> None:
    """The victim's will reached the aggregator, its heartbeat did not, its subscription is gone."""
    assert protocol.center_topic(VICTIM, MessageKind.STATE) in outcome.aggregator_saw
    assert protocol.center_topic(VICTIM, MessageKind.HEARTBEAT) not in outcome.aggregator_saw
    assert not outcome.victim_still_subscribed


async def test_an_account_cannot_knock_another_center_off_by_taking_its_client_id(
    national: ShippedBroker, aggregator: aiomqtt.Client
) -> None:
    """14 logins as prov-son-la with client id prov-lao-cai: prov-lao-cai never flaps."""
    port = national.port
    outcome = await claim_client_id(victim_with_will(port), lambda: impostor(port), aggregator)
    assert_victim_undisturbed(outcome)


async def test_without_the_client_id_tie_the_same_logins_knock_the_center_off(
    tmp_path: Path,
) -> None:
    """Control: with use_username_as_clientid off, the first takeover disconnects the victim."""
    broker = ShippedBroker(tmp_path, "mosquitto.conf", PASSWORDS, replacements=UNTIED)
    broker.start()
    try:
        async with client(broker, "aggregator") as watcher:
            await watcher.subscribe(protocol.SUBSCRIPTION, qos=1)
            port = broker.port
            outcome = await claim_client_id(victim_with_will(port), lambda: impostor(port), watcher)
    finally:
        broker.stop()
    assert_victim_knocked_off(outcome)


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """A test CA, the broker's certificate for 127.0.0.1, and one certificate per center."""
    directory = tmp_path / "certs"
    directory.mkdir()
    authority(directory, "ca")
    issue(directory, "server", "ca", ip_san=True)
    for center in (VICTIM, ATTACKER):
        issue(directory, center, "ca")
    return directory


async def tls_takeover(
    workdir: Path, certs: Path, tls_replacements: dict[str, str]
) -> TakeoverOutcome:
    """The takeover attempts on the shipped TLS listener, each center with its own certificate."""
    broker = ShippedBroker(
        workdir, "mosquitto.conf", PASSWORDS, tls_certs=certs, tls_replacements=tls_replacements
    )
    broker.start()
    try:
        async with client(broker, "aggregator") as watcher:
            await watcher.subscribe(protocol.SUBSCRIPTION, qos=1)
            port = broker.tls_port
            return await claim_client_id(
                victim_with_will(port, client_context(certs, VICTIM)),
                lambda: impostor(port, client_context(certs, ATTACKER)),
                watcher,
            )
    finally:
        broker.stop()


async def test_a_certificate_for_another_center_cannot_take_over_its_client_id(
    tmp_path: Path, certs: Path
) -> None:
    """TLS: the CN is user name and client id; prov-son-la's cert cannot evict prov-lao-cai."""
    assert_victim_undisturbed(await tls_takeover(tmp_path / "broker", certs, {}))


async def test_without_the_client_id_tie_a_certificate_knocks_another_center_off(
    tmp_path: Path, certs: Path
) -> None:
    """Control: TLS listener without use_username_as_clientid, the same logins evict the victim."""
    assert_victim_knocked_off(await tls_takeover(tmp_path / "broker", certs, UNTIED))

"""``dcmon decommission ID``: clear a removed center's retained topics on the broker.

A center removed from the registry still has retained birth, capacity and links messages on
the broker; an aggregator that starts (or a registry that adds the id again) would see them as
if the center were there. Publishing an empty retained payload on each clears it (MQTT 3.1.1
§3.3.1.3). Stop the center's agent first, or it publishes them again.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, Final

import aiomqtt

from agents.broker import BrokerAddress, TlsFiles, parse_broker_url
from agents.errors import ConfigError, DcmonError
from agents.protocol import MessageKind, center_topic, is_valid_center_id
from monitor.registry import load_registry

RETAINED_KINDS: Final = (MessageKind.STATE, MessageKind.CAPACITY, MessageKind.LINKS)
"""The message kinds an agent publishes retained (``docs/protocol.md``)."""
CONNECT_TIMEOUT_S: Final = 10


def register(subparsers: Any) -> None:
    """Add the ``decommission`` subcommand."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "decommission",
        help="clear a removed center's retained topics on the broker",
        description="Publish empty retained payloads on the center's state, capacity and links "
        "topics, so that a center removed from the registry does not come back as a ghost. "
        "Stop its agent first.",
    )
    parser.add_argument("center", metavar="ID", help="the center id")
    parser.add_argument("--broker", required=True, metavar="URL", help="mqtt://host:port")
    parser.add_argument("--username", help="broker user name (one allowed to write the topics)")
    parser.add_argument("--password-file", metavar="FILE", help="file holding the password")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle for mqtts://")
    parser.add_argument("--cert-file", metavar="FILE", help="client certificate for mqtts://")
    parser.add_argument("--key-file", metavar="FILE", help="client key for mqtts://")
    parser.add_argument(
        "--topology",
        metavar="FILE",
        help="refuse if the center is still in this registry (the aggregator's)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Clear the retained topics and print each one cleared."""
    if not is_valid_center_id(args.center):
        raise ConfigError("ID", "", f"{args.center!r} is not a center id")
    if args.topology is not None and args.center in load_registry(args.topology).centers_by_id:
        raise ConfigError(
            args.topology,
            "centers",
            f"{args.center!r} is still registered: remove it and reload the aggregator first",
        )
    address = parse_broker_url(
        args.broker,
        username=args.username,
        password_file=args.password_file,
        tls_files=TlsFiles(ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file),
    )
    topics = [center_topic(args.center, kind) for kind in RETAINED_KINDS]
    asyncio.run(_clear(address, topics))
    for topic in topics:
        print(f"cleared {topic}")
    return 0


async def _clear(address: BrokerAddress, topics: list[str]) -> None:
    try:
        async with aiomqtt.Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            tls_context=address.ssl_context(),
            timeout=CONNECT_TIMEOUT_S,
        ) as client:
            for topic in topics:
                await client.publish(topic, b"", qos=1, retain=True)
    except aiomqtt.MqttError as exc:
        raise DcmonError(f"broker {address.url}: {exc}") from exc

"""``dcmon-agent``: run the agent of one center (flags override the config file)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from agents.broker import BrokerAddress
from agents.config import CAPACITY_SOURCES, LOG_LEVELS, AgentConfig, parse_agent_config
from agents.configfile import read_yaml
from agents.errors import ConfigError, DcmonError
from agents.executor import DaemonThreadExecutor
from agents.lifecycle import stdout_reader_gone

if TYPE_CHECKING:
    from agents.probe import PeerAddress

log = logging.getLogger(__name__)

COMMAND_LINE = "command line"
NOT_SETTINGS = frozenset({"config", "once", "check_aggregator"})
"""Flags that say what to do, not how the agent is configured."""


@dataclass(frozen=True, slots=True)
class Flag:
    """A command-line flag and the config key (dotted) it overrides."""

    flag: str
    key: str
    help: str
    type: Any = str
    metavar: str | None = None


FLAGS: tuple[Flag, ...] = (
    Flag("--center", "center", "the center id this agent speaks for", metavar="ID"),
    Flag("--broker", "broker", "mqtt://host:port or mqtts://host:port", metavar="URL"),
    Flag("--username", "username", "MQTT user name (else $DCMON_MQTT_USERNAME)"),
    Flag("--password", "password", "MQTT password (visible in ps: prefer --password-file)"),
    Flag("--password-file", "password_file", "file holding the MQTT password", metavar="FILE"),
    Flag("--ca-file", "ca_file", "CA bundle to verify an mqtts:// broker", metavar="FILE"),
    Flag("--cert-file", "cert_file", "client certificate for mqtts://", metavar="FILE"),
    Flag("--key-file", "key_file", "client certificate key for mqtts://", metavar="FILE"),
    Flag("--keepalive", "keepalive_s", "MQTT keepalive (default 2 heartbeats)", int, "S"),
    Flag("--heartbeat-interval", "heartbeat_interval_s", "seconds between heartbeats", float, "S"),
    Flag("--capacity-interval", "capacity_interval_s", "republish capacity every S", float, "S"),
    Flag(
        "--capacity-check-interval",
        "capacity_check_interval_s",
        "read the capacity source every S (a change is published at once)",
        float,
        "S",
    ),
    Flag("--probe-interval", "probe_interval_s", "seconds between probe rounds", float, "S"),
    Flag("--probe-timeout", "probe_timeout_s", "timeout of one echo exchange", float, "S"),
    Flag("--probe-count", "probe_count", "echo exchanges per peer and round", int, "N"),
    Flag("--probe-host", "probe_host", "address the probe responder listens on", metavar="HOST"),
    Flag("--probe-port", "probe_port", "port of the probe responder (and of peers)", int, "PORT"),
    Flag("--topology", "topology", "probe this center's neighbours in a registry", metavar="FILE"),
    Flag(
        "--peer-host-template",
        "peer_host_template",
        "host name of a registry neighbour, e.g. '{id}.dc.example'",
        metavar="T",
    ),
    Flag("--reconnect-base", "reconnect_base_s", "first reconnect backoff", float, "S"),
    Flag("--reconnect-cap", "reconnect_cap_s", "longest reconnect backoff", float, "S"),
    Flag("--capacity-source", "capacity.source", "/".join(CAPACITY_SOURCES), metavar="NAME"),
    Flag("--storage-path", "capacity.storage_path", "filesystem the host source measures"),
    Flag("--capacity-command", "capacity.command", "program printing capacity JSON", metavar="CMD"),
    Flag(
        "--command-timeout",
        "capacity.command_timeout_s",
        "timeout of the capacity command / scontrol",
        float,
        "S",
    ),
    Flag("--scontrol", "capacity.scontrol", "how to run scontrol (slurm source)", metavar="CMD"),
    Flag("--log-level", "log_level", "/".join(LOG_LEVELS), metavar="LEVEL"),
)


def build_parser() -> argparse.ArgumentParser:
    """The ``dcmon-agent`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="dcmon-agent",
        description="Publish this center's heartbeat, capacity and link probes to dcmon.",
        epilog="Every flag overrides the same setting in --config; see docs/agent.md.",
    )
    parser.add_argument("--config", type=Path, metavar="FILE", help="agent YAML file")
    for flag in FLAGS:
        parser.add_argument(
            flag.flag, dest=flag.key, type=flag.type, metavar=flag.metavar, help=flag.help
        )
    parser.add_argument(
        "--peer",
        dest="peers",
        action="append",
        metavar="ID=HOST[:PORT]",
        help="a peer to probe (repeat; replaces the file's peers)",
    )
    parser.add_argument(
        "--static-capacity",
        dest="capacity.static",
        metavar="JSON",
        help='figures for the static source, e.g. \'{"cpu_cores": {"total": 64, "available": 8}}\'',
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="print the birth, capacity and link report this agent would publish, check that "
        "the broker answers, and exit (0 when all is well): for checking a new install",
    )
    parser.add_argument(
        "--check-aggregator",
        metavar="URL",
        help="with --once: also ask the aggregator at URL (e.g. http://aggregator:9108) whether "
        "it knows this center (it drops everything an unregistered center publishes)",
    )
    parser.add_argument(
        "--no-probe-responder",
        dest="probe_responder",
        action="store_const",
        const=False,
        help="do not serve probes (peers will see this center as unreachable)",
    )
    return parser


def load_config(args: argparse.Namespace) -> AgentConfig:
    """The config file (if any) with every given flag applied on top, validated.

    Raises:
        ConfigError: naming the file and field, or the flag, of the first problem.
    """
    source = str(args.config) if args.config else COMMAND_LINE
    data: Any = read_yaml(args.config) if args.config else {}
    if args.config and not isinstance(data, dict):
        raise ConfigError(source, "", "expected a mapping at the top level")
    overrides = _overrides(args)
    for key, value in overrides.items():
        _set(data, key, value)
    if "center" not in data:
        raise ConfigError("--center", "", "required (or give a --config file with 'center')")
    try:
        return parse_agent_config(data, source)
    except ConfigError as exc:
        flag = _flag_for(exc.field, overrides)
        if flag is None:
            raise
        raise ConfigError(flag, "", exc.problem) from exc


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    values = {k: v for k, v in vars(args).items() if v is not None and k not in NOT_SETTINGS}
    if "peers" in values:
        values["peers"] = [_peer(text) for text in values["peers"]]
    if "capacity.static" in values:
        try:
            values["capacity.static"] = yaml.safe_load(values["capacity.static"])
        except yaml.YAMLError as exc:
            raise ConfigError("--static-capacity", "", "is not valid JSON") from exc
    return values


def _peer(text: str) -> dict[str, Any]:
    peer_id, sep, address = text.partition("=")
    host, colon, port = address.rpartition(":") if ":" in address else (address, "", "")
    if not sep or not peer_id or not host or (colon and not port.isdigit()):
        raise ConfigError("--peer", "", f"{text!r} is not ID=HOST[:PORT]")
    return {"id": peer_id, "host": host, **({"port": int(port)} if colon else {})}


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    for name in parents:
        child = data.get(name)
        if not isinstance(child, dict):
            child = data[name] = {}
        data = child
    data[leaf] = value


def _flag_for(field: str, overrides: dict[str, Any]) -> str | None:
    for key in overrides:
        if field == key or field.startswith((f"{key}.", f"{key}[")):
            return _flag_name(key)
    return None


def _flag_name(key: str) -> str:
    special = {"peers": "--peer", "capacity.static": "--static-capacity"}
    if key in special:
        return special[key]
    return next(f.flag for f in FLAGS if f.key == key)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: validate everything, then run until SIGTERM/SIGINT (exit 0)."""
    from agents.agent import peer_addresses

    args = build_parser().parse_args(argv)
    try:
        if args.check_aggregator is not None and not args.once:
            raise ConfigError("--check-aggregator", "", "needs --once as well")
        config = load_config(args)
        broker = config.broker_address(source=_source(args, "broker", "--broker"))
        _check_tls(args, config, broker.ssl_context)
        peers = peer_addresses(config)
    except DcmonError as exc:
        print(f"dcmon-agent: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.once:
        return _once(config, broker, peers, args.check_aggregator)
    try:
        asyncio.run(_serve(config, broker, peers))
    except DcmonError as exc:
        print(f"dcmon-agent: {exc}", file=sys.stderr)
        return 1
    return 0


def _once(
    config: AgentConfig,
    broker: BrokerAddress,
    peers: tuple[PeerAddress, ...],
    aggregator_url: str | None,
) -> int:
    """``--once``: print, check, and exit 0 when ready, 1 with one line per problem."""
    from agents.once import check_once

    try:
        problems = asyncio.run(
            check_once(config, broker, peers, sys.stdout, aggregator_url=aggregator_url)
        )
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_reader_gone()
        return 0
    for problem in problems:
        print(f"dcmon-agent: {problem}", file=sys.stderr)
    return 1 if problems else 0


async def _serve(
    config: AgentConfig, broker: BrokerAddress, peers: tuple[PeerAddress, ...]
) -> None:
    from agents.agent import run_agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.set_default_executor(DaemonThreadExecutor())
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_agent(config, broker, peers, stop)
    log.info("stopped")


def _source(args: argparse.Namespace, key: str, flag: str) -> str:
    if getattr(args, key, None) is not None or not args.config:
        return flag
    return f"{args.config}: {key}"


def _check_tls(args: argparse.Namespace, config: AgentConfig, make_context: Any) -> None:
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(config, key)
        if path is not None and not Path(path).is_file():
            raise ConfigError(_source(args, key, _flag_name(key)), "", f"{path}: file not found")
    try:
        make_context()
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError("TLS", "", f"cannot load the CA, certificate or key ({exc})") from exc

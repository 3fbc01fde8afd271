"""Agent configuration: a YAML file whose every setting a flag can override."""

from __future__ import annotations

import math
import shlex
from typing import Annotated, Any, Final, Literal

import msgspec

from agents.broker import BrokerAddress, TlsFiles, parse_broker_url
from agents.configfile import convert, literal_values
from agents.errors import ConfigError
from agents.protocol import Resource, is_valid_center_id

Seconds = Annotated[float, msgspec.Meta(gt=0)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
CapacitySourceName = Literal["static", "host", "slurm", "command"]
CAPACITY_SOURCES: Final = literal_values(CapacitySourceName)
# A program to run: a list of arguments, or one string split like a shell would (no shell runs).
Command = str | tuple[str, ...]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LOG_LEVELS: Final = literal_values(LogLevel)
DEFAULT_PROBE_PORT: Final = 7471


class PeerSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A registry neighbour to probe, and where its probe responder listens."""

    id: str
    host: str
    port: Port = DEFAULT_PROBE_PORT


class StaticCapacity(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Capacity figures written in the config file (``capacity.source: static``)."""

    cpu_cores: Resource | None = None
    gpus: Resource | None = None
    memory_bytes: Resource | None = None
    storage_bytes: Resource | None = None


class CapacityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Where the agent reads its center's capacity from."""

    source: CapacitySourceName = "host"
    static: StaticCapacity = StaticCapacity()
    storage_path: str = "/"
    command: Command = ()
    command_timeout_s: Seconds = 10.0
    scontrol: Command = "scontrol"


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything one agent needs; ``center`` alone (with a broker) is enough."""

    center: str
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: Annotated[int, msgspec.Meta(ge=5, le=65535)] | None = None
    heartbeat_interval_s: Seconds = 5.0
    capacity_interval_s: Seconds = 30.0
    capacity_check_interval_s: Seconds = 5.0
    probe_interval_s: Seconds = 10.0
    probe_timeout_s: Seconds = 1.0
    probe_count: Annotated[int, msgspec.Meta(ge=1, le=20)] = 3
    probe_responder: bool = True
    probe_host: str = "0.0.0.0"
    probe_port: Port = DEFAULT_PROBE_PORT
    peers: tuple[PeerSpec, ...] = ()
    topology: str | None = None
    peer_host_template: str = "{id}"
    reconnect_base_s: Seconds = 0.5
    reconnect_cap_s: Seconds = 30.0
    capacity: CapacityConfig = CapacityConfig()
    log_level: LogLevel = "INFO"

    @property
    def effective_keepalive_s(self) -> int:
        """MQTT keepalive: set, or two heartbeats (the broker then drops a frozen agent after
        1.5 * keepalive, i.e. within the aggregator's default three-heartbeat window)."""
        if self.keepalive_s is not None:
            return self.keepalive_s
        return max(5, math.ceil(2 * self.heartbeat_interval_s))

    def broker_address(self, source: str = "broker") -> BrokerAddress:
        """The broker URL with credentials and TLS files resolved (reads the password file)."""
        return parse_broker_url(
            self.broker,
            source=source,
            username=self.username,
            password=self.password,
            password_file=self.password_file,
            tls_files=TlsFiles(
                ca_file=self.ca_file, cert_file=self.cert_file, key_file=self.key_file
            ),
        )

    def summary(self) -> str:
        """One line describing the agent."""
        peers = f"{len(self.peers)} peers" + (
            f" + topology {self.topology}" if self.topology else ""
        )
        return (
            f"center {self.center}, broker {self.broker}, heartbeat every "
            f"{self.heartbeat_interval_s:g} s, capacity from {self.capacity.source}, {peers}"
        )


def command_argv(command: Command) -> tuple[str, ...]:
    """The argument vector of a configured command."""
    return tuple(shlex.split(command)) if isinstance(command, str) else command


def parse_agent_config(data: Any, source: str) -> AgentConfig:
    """Validate an agent configuration document.

    Raises:
        ConfigError: naming ``source`` and the field of the first problem found.
    """
    config = convert(
        data,
        AgentConfig,
        source,
        choices={"source": CAPACITY_SOURCES, "log_level": LOG_LEVELS},
    )
    _check(config, source)
    return config


def _check(config: AgentConfig, source: str) -> None:
    if not is_valid_center_id(config.center):
        raise ConfigError(
            source,
            "center",
            f"{config.center!r} is not a valid center id "
            "(lowercase letters, digits and '-', at most 63, not starting with '-')",
        )
    try:
        parse_broker_url(config.broker, source=source)
    except ConfigError as exc:
        raise ConfigError(source, "broker", exc.problem) from exc
    seen: set[str] = set()
    for i, peer in enumerate(config.peers):
        if not is_valid_center_id(peer.id):
            raise ConfigError(source, f"peers[{i}].id", f"{peer.id!r} is not a valid center id")
        if peer.id == config.center:
            raise ConfigError(source, f"peers[{i}].id", "an agent does not probe itself")
        if peer.id in seen:
            raise ConfigError(source, f"peers[{i}].id", f"duplicate peer {peer.id!r}")
        seen.add(peer.id)
    if "{id}" not in config.peer_host_template:
        raise ConfigError(source, "peer_host_template", "must contain '{id}'")
    if config.reconnect_cap_s < config.reconnect_base_s:
        raise ConfigError(source, "reconnect_cap_s", "must not be less than reconnect_base_s")
    if config.key_file is not None and config.cert_file is None:
        raise ConfigError(source, "key_file", "a client key needs cert_file too")
    cap = config.capacity
    if cap.source == "command" and not command_argv(cap.command):
        raise ConfigError(source, "capacity.command", "required when capacity.source is command")
    if cap.source == "static" and all(
        getattr(cap.static, name) is None for name in StaticCapacity.__struct_fields__
    ):
        raise ConfigError(source, "capacity.static", "give at least one resource for static")
    for name in StaticCapacity.__struct_fields__:
        res = getattr(cap.static, name)
        if res is not None and res.available > res.total:
            raise ConfigError(source, f"capacity.static.{name}", "available must not exceed total")

"""Aggregator configuration: a YAML file whose settings command-line flags override."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final

import msgspec

from agents.broker import BrokerAddress, TlsFiles, parse_broker_url
from agents.configfile import convert
from agents.errors import ConfigError
from agents.protocol import is_valid_center_id

Seconds = Annotated[float, msgspec.Meta(gt=0)]

DEFAULT_LISTEN: Final = "127.0.0.1:9108"
"""Where the aggregator (and ``dcmon demo``) serve HTTP unless told otherwise; the console's
default ``--url`` points here."""


class Thresholds(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Link quality above which a live, reachable center is ``degraded``."""

    degraded_rtt_s: Seconds | None = None
    degraded_loss_ratio: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = 0.2


class MaintenanceSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A declared maintenance window of one center (ISO-8601 times with a UTC offset)."""

    center: str
    start: dt.datetime
    end: dt.datetime
    reason: str = ""


class AggregatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Settings of one aggregator instance."""

    instance: str = "aggregator"
    broker: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password_file: str | None = None
    tls: TlsFiles | None = None
    topology: str = "config/topology.yaml"
    listen: str = DEFAULT_LISTEN
    heartbeat_misses: Annotated[int, msgspec.Meta(ge=1)] = 3
    default_heartbeat_interval_s: Seconds = 5.0
    probe_fresh_s: Seconds = 30.0
    session_skew_s: Seconds = 300.0
    """A session number beyond the aggregator's clock (ms) plus this does not pin a center."""
    agent_reconnect_cap_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0
    incident_hold_down_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0
    """An incident that comes back this soon after resolving is reopened (a flap), not new."""
    """The agents' longest reconnect backoff: how much longer grace lasts after a blind spell."""
    thresholds: Thresholds = Thresholds()
    maintenance: tuple[MaintenanceSettings, ...] = ()
    auto_register: bool = False
    events_buffer: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000
    web_config: str | None = None
    writers: tuple[str, ...] = ()
    state_store: str | None = None
    """The SQLite file of the history (DESIGN §11); none: kept in memory for the run."""
    store_retention_days: Annotated[float, msgspec.Meta(gt=0)] = 400.0
    """How long time per status, incidents and their changes are kept."""
    store_transitions_retention_days: Annotated[float, msgspec.Meta(gt=0)] = 35.0
    """How long raw center and link transitions are kept."""

    def summary(self) -> str:
        """One line describing the instance."""
        return f"instance {self.instance}, broker {self.broker}, listen {self.listen}"

    def broker_address(self, source: str = "broker") -> BrokerAddress:
        """The broker URL with credentials and TLS files resolved (``ConfigError`` if unusable)."""
        return parse_broker_url(
            self.broker,
            source=source,
            username=self.username,
            password_file=self.password_file,
            tls_files=self.tls,
        )

    def listen_address(self, source: str = "listen") -> tuple[str, int]:
        """``listen`` split into host and port (``ConfigError`` if malformed)."""
        return parse_listen(self.listen, source)


def parse_aggregator_config(data: Any, source: str) -> AggregatorConfig:
    """Validate an aggregator configuration document (``source`` names it in errors)."""
    config = convert(data, AggregatorConfig, source, choices={})
    check_aggregator_config(config, source)
    return config


def check_aggregator_config(config: AggregatorConfig, source: str) -> None:
    """Checks that types alone cannot express; raises ``ConfigError`` naming the field."""
    if not is_valid_center_id(config.instance):
        raise ConfigError(
            source,
            "instance",
            f"{config.instance!r} is not a valid instance id "
            "(lowercase letters, digits and '-', at most 63)",
        )
    if config.auto_register:
        # Refused rather than silently ignored: an operator who enables it expects new ids to
        # become centers, and this version does not do that yet.
        raise ConfigError(
            source,
            "auto_register",
            "auto-registration is not supported in this version; add the center to the registry",
        )
    parse_listen(config.listen, source, "listen")
    config.broker_address(source)
    for i, writer in enumerate(config.writers):
        if not writer:
            raise ConfigError(source, f"writers[{i}]", "a user name may not be empty")
        if writer in config.writers[:i]:
            raise ConfigError(source, f"writers[{i}]", f"{writer!r} is listed twice")
    for i, window in enumerate(config.maintenance):
        where = f"maintenance[{i}]"
        if not is_valid_center_id(window.center):
            raise ConfigError(source, f"{where}.center", f"{window.center!r} is not a center id")
        for name in ("start", "end"):
            if getattr(window, name).tzinfo is None:
                raise ConfigError(
                    source, f"{where}.{name}", "needs a UTC offset, e.g. 2025-01-31T22:00:00+07:00"
                )
        if window.end <= window.start:
            raise ConfigError(source, f"{where}.end", "must be after start")


def parse_listen(value: str, source: str, field: str = "") -> tuple[str, int]:
    """Split ``HOST:PORT`` (or ``[v6]:PORT``) into host and port."""
    host, sep, port_text = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(source, field, f"{value!r} is not HOST:PORT (e.g. {DEFAULT_LISTEN})")
    return host, int(port_text)

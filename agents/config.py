"""Agent configuration: a YAML file whose every setting a flag can override."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agents.configfile import convert
from agents.errors import ConfigError
from agents.protocol import is_valid_center_id

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class PeerSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A registry neighbour to probe, and where its probe responder listens."""

    id: str
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 7471


class AgentConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Everything one agent needs; ``center`` alone (with a broker) is enough."""

    center: str
    broker: str = "mqtt://127.0.0.1:1883"
    heartbeat_interval_s: Seconds = 5.0
    capacity_interval_s: Seconds = 30.0
    probe_interval_s: Seconds = 10.0
    probe_timeout_s: Seconds = 1.0
    peers: tuple[PeerSpec, ...] = ()

    def summary(self) -> str:
        """One line describing the agent."""
        return (
            f"center {self.center}, broker {self.broker}, heartbeat every "
            f"{self.heartbeat_interval_s:g} s, {len(self.peers)} peers"
        )


def parse_agent_config(data: Any, source: str) -> AgentConfig:
    """Validate an agent configuration document."""
    config = convert(data, AgentConfig, source, choices={})
    if not is_valid_center_id(config.center):
        raise ConfigError(source, "center", f"{config.center!r} is not a valid center id")
    return config

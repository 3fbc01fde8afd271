"""Aggregator configuration file."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agents.configfile import convert

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class AggregatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Settings of one aggregator instance."""

    instance: str = "aggregator"
    broker: str = "mqtt://127.0.0.1:1883"
    topology: str = "config/topology.yaml"
    listen: str = "127.0.0.1:9108"
    heartbeat_misses: Annotated[int, msgspec.Meta(ge=1)] = 3
    default_heartbeat_interval_s: Seconds = 5.0

    def summary(self) -> str:
        """One line describing the instance."""
        return f"instance {self.instance}, broker {self.broker}, listen {self.listen}"


def parse_aggregator_config(data: Any, source: str) -> AggregatorConfig:
    """Validate an aggregator configuration document."""
    return convert(data, AggregatorConfig, source, choices={})

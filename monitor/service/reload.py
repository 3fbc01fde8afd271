"""Reload (DESIGN §11): which configuration keys take effect at runtime, and what a reload did.

``SIGHUP`` and ``POST /-/reload`` re-read the aggregator config and the registry
(``Aggregator.reload``). Everything the status engine judges by (thresholds, windows,
maintenance, the registry itself) changes at once; the keys of ``RESTART_KEYS`` describe the
process itself (its broker connection, its listening socket, who may do what) and keep their
running values until a restart, with one warning per key naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import msgspec

from monitor.config import AggregatorConfig
from monitor.registry import Registry, load_registry

RESTART_KEYS: Final = (
    "instance",
    "broker",
    "username",
    "password_file",
    "tls",
    "listen",
    "web_config",
    "writers",
    "events_buffer",
    "auto_register",
)
"""Aggregator config keys that take effect only at the next start."""

ConfigLoader = Callable[[], tuple[AggregatorConfig, Registry]]
"""Reads the configuration and the registry again (blocking I/O; ``ConfigError`` if invalid)."""


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one successful reload changed."""

    at: float
    added: tuple[str, ...]
    """Centers registered by this reload (``unknown`` and never seen until heard)."""
    removed: tuple[str, ...]
    """Centers no longer registered (their series are gone)."""
    registry_changed: bool
    settings_changed: bool
    needs_restart: tuple[str, ...]
    """Keys whose new values wait for a restart (the running values are kept)."""


def restart_only_changes(running: AggregatorConfig, loaded: AggregatorConfig) -> tuple[str, ...]:
    """The ``RESTART_KEYS`` whose value differs between the two configurations."""
    return tuple(key for key in RESTART_KEYS if getattr(running, key) != getattr(loaded, key))


def effective_config(running: AggregatorConfig, loaded: AggregatorConfig) -> AggregatorConfig:
    """``loaded`` with the running values of every ``RESTART_KEYS`` key."""
    return msgspec.structs.replace(loaded, **{key: getattr(running, key) for key in RESTART_KEYS})


def topology_loader(config: AggregatorConfig) -> ConfigLoader:
    """A loader that re-reads only the registry file (the configuration stays as given)."""

    def load() -> tuple[AggregatorConfig, Registry]:
        return config, load_registry(config.topology)

    return load

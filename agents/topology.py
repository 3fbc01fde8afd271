"""Registry neighbours for ``--topology``: read the registry's links with plain YAML.

The agent does not import the aggregator's registry module, so a center's import graph stays
free of networkx, aiohttp and prometheus_client.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from agents.configfile import convert, read_yaml
from agents.errors import ConfigError


class _Center(msgspec.Struct, frozen=True):
    id: str


class _Link(msgspec.Struct, frozen=True):
    a: str
    b: str


class _Registry(msgspec.Struct, frozen=True):
    centers: tuple[_Center, ...] = ()
    links: tuple[_Link, ...] = ()


def registry_neighbours(path: Path, center: str) -> tuple[str, ...]:
    """Neighbour ids of ``center`` in the registry file at ``path``, in link order.

    Raises:
        ConfigError: when the file is unusable or does not register ``center``.
    """
    registry = convert(read_yaml(path), _Registry, str(path), choices={})
    if center not in {c.id for c in registry.centers}:
        raise ConfigError(str(path), "centers", f"center {center!r} is not registered")
    out: list[str] = []
    for link in registry.links:
        peer = link.b if link.a == center else link.a if link.b == center else None
        if peer is not None and peer not in out:
            out.append(peer)
    return tuple(out)

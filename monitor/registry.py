"""The registry (``config/topology.yaml``): every center and link that should exist."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

from agents.configfile import convert, literal_values, read_yaml
from agents.errors import ConfigError
from agents.protocol import is_valid_center_id

LinkKey = tuple[str, str]
"""A link's id: its two ends in sorted order (``a < b``)."""


def link_key(a: str, b: str) -> LinkKey:
    """The canonical (sorted) key of the link between ``a`` and ``b``."""
    return (a, b) if a < b else (b, a)


Tier = Literal["national", "regional", "hpc", "provincial"]
TIERS: Final = literal_values(Tier)


class Location(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """WGS84 coordinates of a center."""

    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]


class DeclaredCapacity(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Nominal capacity of a center as planned (the simulator's starting point; invented)."""

    cpu_cores: Annotated[int, msgspec.Meta(ge=0)] = 0
    gpus: Annotated[int, msgspec.Meta(ge=0)] = 0
    memory_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0
    storage_bytes: Annotated[int, msgspec.Meta(ge=0)] = 0


class CenterSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One registered center."""

    id: str
    name: str
    tier: Tier
    region: str
    location: Location
    province: str = ""
    vietnamese_name: str = ""
    capacity: DeclaredCapacity | None = None
    notes: str = ""


class LinkSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One registered link between two centers (undirected)."""

    a: str
    b: str
    bandwidth_gbps: Annotated[float, msgspec.Meta(gt=0)]
    role: str = ""
    est_rtt_ms: Annotated[float, msgspec.Meta(ge=0)] | None = None

    @property
    def key(self) -> LinkKey:
        """The link's canonical id: its two ends in sorted order (``a < b``)."""
        return link_key(self.a, self.b)


class Meta(msgspec.Struct, frozen=True, kw_only=True):
    """Free-form description of the registry (name, version, provenance)."""

    name: str = ""
    version: str = ""
    attribution: str = ""
    notes: str = ""


class Registry(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, dict=True):
    """The whole registry, validated: ids are unique and links join registered centers.

    ``centers_by_id`` is built on first use and kept (``dict=True`` gives the frozen struct the
    ``__dict__`` that ``cached_property`` needs).
    """

    centers: tuple[CenterSpec, ...]
    links: tuple[LinkSpec, ...] = ()
    meta: Meta | None = None

    def center_ids(self) -> tuple[str, ...]:
        """Center ids in registry order (the order decides core ties)."""
        return tuple(c.id for c in self.centers)

    @cached_property
    def centers_by_id(self) -> Mapping[str, CenterSpec]:
        """Every registered center by id, in registry order."""
        return {center.id: center for center in self.centers}

    def regions(self) -> tuple[str, ...]:
        """The regions of the registered centers, each once, in registry order."""
        return tuple(dict.fromkeys(c.region for c in self.centers))

    def adjacency(self) -> dict[str, tuple[str, ...]]:
        """Registry neighbours of every center (registry order), each in link order.

        One pass over the links: callers that need it often compute it once and keep it.
        """
        out: dict[str, list[str]] = {center.id: [] for center in self.centers}
        for link in self.links:
            out[link.a].append(link.b)
            out[link.b].append(link.a)
        return {center: tuple(peers) for center, peers in out.items()}

    def neighbours(self, center: str) -> tuple[str, ...]:
        """Registry neighbours of ``center``, in link order (one pass; see ``adjacency``)."""
        return self.adjacency().get(center, ())

    def summary(self) -> str:
        """A short human summary: centers per tier and region, and links."""
        tiers: Tally[str] = Tally(c.tier for c in self.centers)
        regions = Tally(c.region for c in self.centers)
        tier_text = ", ".join(f"{t} {tiers[t]}" for t in TIERS if tiers[t])
        region_text = ", ".join(f"{r} {n}" for r, n in sorted(regions.items()))
        return (
            f"{len(self.centers)} centers ({tier_text}); regions: {region_text}; "
            f"{len(self.links)} links"
        )


def load_registry(path: Path | str) -> Registry:
    """Load and validate a registry file.

    Raises:
        ConfigError: naming the file and field path of the first problem found.
    """
    path = Path(path)
    return parse_registry(read_yaml(path), str(path))


def parse_registry(data: Any, source: str) -> Registry:
    """Validate an already-parsed registry document (``source`` names it in errors)."""
    if isinstance(data, dict) and "centers" not in data:
        raise ConfigError(source, "centers", "required key is missing")
    registry = convert(data, Registry, source, choices={"tier": TIERS})
    _check_centers(registry, source)
    _check_links(registry, source)
    return registry


def _check_centers(registry: Registry, source: str) -> None:
    if not registry.centers:
        raise ConfigError(source, "centers", "at least one center is required")
    seen: dict[str, int] = {}
    for i, center in enumerate(registry.centers):
        if not is_valid_center_id(center.id):
            raise ConfigError(
                source,
                f"centers[{i}].id",
                f"{center.id!r} is not a valid center id "
                "(lowercase letters, digits and '-', at most 63, not starting with '-')",
            )
        if center.id in seen:
            raise ConfigError(
                source,
                f"centers[{i}].id",
                f"duplicate center id {center.id!r} (first at centers[{seen[center.id]}])",
            )
        seen[center.id] = i


def _check_links(registry: Registry, source: str) -> None:
    ids = set(registry.center_ids())
    seen: dict[tuple[str, str], int] = {}
    for i, link in enumerate(registry.links):
        for end in ("a", "b"):
            value = getattr(link, end)
            if value not in ids:
                raise ConfigError(source, f"links[{i}].{end}", f"unknown center {value!r}")
        if link.a == link.b:
            raise ConfigError(source, f"links[{i}]", f"self-link on {link.a!r}")
        if link.key in seen:
            raise ConfigError(
                source,
                f"links[{i}]",
                f"duplicate link {link.a} - {link.b} (first at links[{seen[link.key]}])",
            )
        seen[link.key] = i

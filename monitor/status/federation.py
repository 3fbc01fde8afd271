"""The registry, indexed once for the status engine and the planner."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.registry import LinkSpec, Registry
from monitor.status.model import LinkKey


@dataclass(frozen=True, slots=True)
class FederationIndex:
    """Lookups the engine needs on every evaluation, computed once from the registry."""

    ids: tuple[str, ...]
    position: dict[str, int]
    tier: dict[str, str]
    nationals: tuple[str, ...]
    links: tuple[LinkSpec, ...]
    link_by_key: dict[LinkKey, LinkSpec]
    neighbours: dict[str, tuple[str, ...]]
    tiers: tuple[str, ...]

    @classmethod
    def of(cls, registry: Registry) -> FederationIndex:
        """Index ``registry``."""
        ids = registry.center_ids()
        tiers: list[str] = []
        for center in registry.centers:
            if center.tier not in tiers:
                tiers.append(center.tier)
        return cls(
            ids=ids,
            position={center: i for i, center in enumerate(ids)},
            tier={center.id: center.tier for center in registry.centers},
            nationals=tuple(c.id for c in registry.centers if c.tier == "national"),
            links=registry.links,
            link_by_key={link.key: link for link in registry.links},
            neighbours=registry.adjacency(),
            tiers=tuple(tiers),
        )

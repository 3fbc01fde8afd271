"""Which centers' capacity counts, and the totals over them (DESIGN §5): one definition.

The planner's ``/api/v1/capacity`` totals and the ``dcmon_capacity*`` metrics both come from
``CapacityTally``: counted centers are added one at a time in registry order, so the API and the
metrics report the very same floats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypeVar

from agents.protocol import RESOURCES, Resource
from monitor.registry import CenterSpec, Registry
from monitor.status.model import CenterView, Snapshot

K = TypeVar("K")
Grouping = Literal["tier", "region", "partition"]
GROUPINGS: Final[tuple[Grouping, ...]] = ("tier", "region", "partition")


@dataclass(frozen=True, slots=True)
class ResourceTotal:
    """Available and total amount of one resource."""

    available: float = 0.0
    total: float = 0.0


NO_CAPACITY: Final[Mapping[str, ResourceTotal]] = MappingProxyType(
    {name: ResourceTotal() for name in RESOURCES}
)
"""Every resource at zero: the totals of a group with no counted center."""


def counts_capacity(view: CenterView) -> bool:
    """Whether a center's capacity counts: connected flag 1, live agent, a capacity report of its
    current session.

    A silent agent's capacity never counts, whatever its status (a ``stale`` center included).
    """
    return view.connected and view.live and bool(view.capacity)


@dataclass(frozen=True, slots=True)
class CapacityTotals:
    """Capacity of the counted centers: overall, and by tier, region and partition.

    Each group maps every resource of ``RESOURCES`` (in that order) to its totals; a tier, region
    or partition appears once one of its centers counts, in the order they first did.
    """

    centers: tuple[str, ...]
    """The counted centers (registry order)."""
    overall: Mapping[str, ResourceTotal]
    by_tier: Mapping[str, Mapping[str, ResourceTotal]]
    by_region: Mapping[str, Mapping[str, ResourceTotal]]
    by_partition: Mapping[int, Mapping[str, ResourceTotal]]
    """In partition order."""


class _Sums:
    """Running sums of one group, by resource name."""

    __slots__ = ("available", "total")

    def __init__(self) -> None:
        self.available: dict[str, float] = {}
        self.total: dict[str, float] = {}

    def add(self, capacity: Mapping[str, Resource]) -> None:
        available, total = self.available, self.total
        for name, amount in capacity.items():
            available[name] = available.get(name, 0.0) + amount.available
            total[name] = total.get(name, 0.0) + amount.total

    def frozen(self) -> dict[str, ResourceTotal]:
        available, total = self.available, self.total
        return {
            name: ResourceTotal(available.get(name, 0.0), total.get(name, 0.0))
            for name in RESOURCES
        }


def _group(groups: dict[K, _Sums], key: K) -> _Sums:
    sums = groups.get(key)
    if sums is None:
        sums = groups[key] = _Sums()
    return sums


class CapacityTally:
    """``CapacityTotals`` built one center at a time, so a caller can add them in slices.

    Add every registered center in registry order (the order fixes the floats), then read
    ``totals()``.

    Args:
        groupings: the groups to sum besides the overall totals (the others stay empty): the
            metrics need only tiers, and at 10,000 centers every grouping costs milliseconds.
    """

    def __init__(self, groupings: tuple[Grouping, ...] = GROUPINGS) -> None:
        self._by_tier = "tier" in groupings
        self._by_region = "region" in groupings
        self._by_partition = "partition" in groupings
        self._centers: list[str] = []
        self._overall = _Sums()
        self._tiers: dict[str, _Sums] = {}
        self._regions: dict[str, _Sums] = {}
        self._partitions: dict[int, _Sums] = {}

    def add(self, spec: CenterSpec, view: CenterView) -> None:
        """Count one center (nothing if its capacity does not count)."""
        if not counts_capacity(view):
            return
        capacity = view.capacity
        self._centers.append(spec.id)
        self._overall.add(capacity)
        if self._by_tier:
            _group(self._tiers, spec.tier).add(capacity)
        if self._by_region:
            _group(self._regions, spec.region).add(capacity)
        if self._by_partition and view.partition is not None:
            _group(self._partitions, view.partition).add(capacity)

    def totals(self) -> CapacityTotals:
        """The totals of the centers added so far."""
        return CapacityTotals(
            centers=tuple(self._centers),
            overall=self._overall.frozen(),
            by_tier={tier: sums.frozen() for tier, sums in self._tiers.items()},
            by_region={region: sums.frozen() for region, sums in self._regions.items()},
            by_partition={index: sums.frozen() for index, sums in sorted(self._partitions.items())},
        )


def capacity_totals(
    snapshot: Snapshot, registry: Registry, groupings: tuple[Grouping, ...] = GROUPINGS
) -> CapacityTotals:
    """Totals of capacity over the counted centers, grouped by tier, region and partition (or
    only ``groupings`` of these)."""
    tally = CapacityTally(groupings)
    views = snapshot.centers
    for spec in registry.centers:
        tally.add(spec, views[spec.id])
    return tally.totals()

"""The simulated network: which agents run, which centers and links work, and probe results.

Pure and synchronous: the fault model takes a fault and a clock and answers questions; the
agents (I/O) ask it what to do and what their probes see.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Literal

from agents.errors import DcmonError
from agents.protocol import Probe
from monitor.registry import CenterSpec, LinkSpec, Registry
from monitor.status.model import LinkKey, link_key

FaultKind = Literal["stop-agent", "freeze", "down", "cut", "partition", "flap", "heal"]
FAULT_KINDS: Final[tuple[FaultKind, ...]] = (
    "stop-agent",
    "freeze",
    "down",
    "cut",
    "partition",
    "flap",
    "heal",
)
# How many arguments each fault takes, and what they are (for help and error messages).
FAULT_ARGUMENTS: Final[dict[FaultKind, tuple[str, ...]]] = {
    "stop-agent": ("CENTER",),
    "freeze": ("CENTER",),
    "down": ("CENTER",),
    "cut": ("A", "B"),
    "partition": ("REGION",),
    "flap": ("A", "B"),
    "heal": (),
}
FAULT_HELP: Final[dict[FaultKind, str]] = {
    "stop-agent": "the agent dies (its will fires); the center still works: stale",
    "freeze": "the agent hangs without closing its connection (no heartbeats, no pings)",
    "down": "the whole center fails: its agent and all its links",
    "cut": "the link between A and B fails both ways",
    "partition": "every link between REGION and the other regions fails",
    "flap": "the link between A and B alternates between failing and working",
    "heal": "clear every fault: agents restart, centers and links come back",
}

SPEED_OF_LIGHT_IN_FIBRE_KM_PER_MS: Final = 200.0
FIBRE_ROUTE_FACTOR: Final = 1.5
"""Fibre rarely runs in a straight line; paths are this much longer than the great circle."""
MIN_RTT_MS: Final = 0.2
EARTH_RADIUS_KM: Final = 6371.0


class FaultError(DcmonError):
    """A fault that cannot be applied: unknown center, region or link, or wrong arguments."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault injection: a kind and its arguments (center ids, a region)."""

    kind: FaultKind
    args: tuple[str, ...] = ()

    def describe(self) -> str:
        """``cut hub-north ndc-north``."""
        return " ".join((self.kind, *self.args))


def distance_km(a: CenterSpec, b: CenterSpec) -> float:
    """Great-circle distance between two centers."""
    lat1, lon1 = math.radians(a.location.lat), math.radians(a.location.lon)
    lat2, lon2 = math.radians(b.location.lat), math.radians(b.location.lon)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def base_rtt_ms(link: LinkSpec, a: CenterSpec, b: CenterSpec) -> float:
    """The link's nominal RTT: the registry's estimate, else from the distance over fibre."""
    if link.est_rtt_ms is not None:
        return max(link.est_rtt_ms, MIN_RTT_MS)
    one_way = distance_km(a, b) * FIBRE_ROUTE_FACTOR / SPEED_OF_LIGHT_IN_FIBRE_KM_PER_MS
    return max(2 * one_way, MIN_RTT_MS)


@dataclass
class SimulatedNetwork:
    """The state of the simulated world and the faults injected into it.

    Args:
        registry: the federation being simulated.
        flap_period_s: how long a flapping link stays in each state.
        rng: randomness for probe noise (seed it for reproducible runs).
    """

    registry: Registry
    flap_period_s: float = 4.0
    rng: random.Random = field(default_factory=random.Random)
    stopped_agents: set[str] = field(default_factory=set)
    frozen_agents: set[str] = field(default_factory=set)
    down_centers: set[str] = field(default_factory=set)
    cut_links: set[LinkKey] = field(default_factory=set)
    partitioned_regions: set[str] = field(default_factory=set)
    flapping_links: dict[LinkKey, float] = field(default_factory=dict)
    active: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._centers = {c.id: c for c in self.registry.centers}
        self._links = {link.key: link for link in self.registry.links}
        self._rtt_ms = {
            key: base_rtt_ms(link, self._centers[link.a], self._centers[link.b])
            for key, link in self._links.items()
        }
        self._regions = frozenset(c.region for c in self.registry.centers)

    # --- faults ----------------------------------------------------------------------------------

    def validate(self, fault: Fault) -> Fault:
        """Check a fault's arguments against the registry; returns it, or raises ``FaultError``."""
        wanted = FAULT_ARGUMENTS.get(fault.kind)
        if wanted is None:
            raise FaultError(f"unknown fault {fault.kind!r}; one of {', '.join(FAULT_KINDS)}")
        if len(fault.args) != len(wanted):
            usage = " ".join((fault.kind, *wanted))
            raise FaultError(f"{fault.kind} takes {len(wanted)} argument(s): {usage}")
        if fault.kind == "partition":
            if fault.args[0] not in self._regions:
                regions = ", ".join(sorted(self._regions))
                raise FaultError(f"unknown region {fault.args[0]!r}; one of {regions}")
            return fault
        for center in fault.args:
            if center not in self._centers:
                raise FaultError(f"unknown center {center!r}")
        if fault.kind in ("cut", "flap") and link_key(*fault.args) not in self._links:
            raise FaultError(f"no registered link between {fault.args[0]} and {fault.args[1]}")
        return fault

    def apply(self, fault: Fault, now: float) -> frozenset[str]:
        """Inject ``fault`` (validated first) at time ``now``; returns the agents it affects."""
        self.validate(fault)
        if fault.kind == "heal":
            affected = (
                self.stopped_agents | self.frozen_agents | self.down_centers | self._probers()
            )
            self.stopped_agents.clear()
            self.frozen_agents.clear()
            self.down_centers.clear()
            self.cut_links.clear()
            self.partitioned_regions.clear()
            self.flapping_links.clear()
            self.active.clear()
            return frozenset(affected)
        self.active.append(fault)
        if fault.kind == "stop-agent":
            self.stopped_agents.add(fault.args[0])
            return frozenset(fault.args)
        if fault.kind == "freeze":
            self.frozen_agents.add(fault.args[0])
            return frozenset(fault.args)
        if fault.kind == "down":
            center = fault.args[0]
            self.down_centers.add(center)
            return frozenset({center, *self.registry.neighbours(center)})
        if fault.kind == "cut":
            self.cut_links.add(link_key(*fault.args))
            return frozenset(fault.args)
        if fault.kind == "flap":
            self.flapping_links[link_key(*fault.args)] = now
            return frozenset(fault.args)
        region = fault.args[0]
        self.partitioned_regions.add(region)
        return frozenset(end for key in self._links if self._crosses_partition(*key) for end in key)

    def _probers(self) -> set[str]:
        ends: set[str] = set()
        for a, b in self._links:
            if not self.link_works(a, b, now=None):
                ends.update((a, b))
        return ends

    # --- questions the agents ask ----------------------------------------------------------------

    def agent_runs(self, center: str) -> bool:
        """Whether the center's agent process is alive (not stopped, its center not down)."""
        return center not in self.stopped_agents and center not in self.down_centers

    def agent_frozen(self, center: str) -> bool:
        """Whether the center's agent hangs (alive, connected, but doing nothing)."""
        return center in self.frozen_agents

    def link_works(self, a: str, b: str, now: float | None) -> bool:
        """Whether traffic crosses the link between ``a`` and ``b`` right now."""
        if a in self.down_centers or b in self.down_centers:
            return False
        key = link_key(a, b)
        if key in self.cut_links or self._crosses_partition(a, b):
            return False
        started = self.flapping_links.get(key)
        if started is None:
            return True
        if now is None:
            return False
        # The first half-period is a failure, so a flap shows at once.
        return int((now - started) // self.flap_period_s) % 2 == 1

    def _crosses_partition(self, a: str, b: str) -> bool:
        region_a, region_b = self._centers[a].region, self._centers[b].region
        return region_a != region_b and bool({region_a, region_b} & self.partitioned_regions)

    def probe(self, source: str, target: str, now: float) -> Probe:
        """What ``source``'s probe of its neighbour ``target`` sees right now (with noise)."""
        if not self.link_works(source, target, now):
            return Probe(peer=target, reachable=False, loss_ratio=1.0)
        base = self._rtt_ms[link_key(source, target)]
        rtt_ms = base * (1 + abs(self.rng.gauss(0, 0.05))) + self.rng.uniform(0, 0.1)
        loss = 0.0 if self.rng.random() < 0.97 else round(self.rng.uniform(0.001, 0.01), 4)
        return Probe(peer=target, reachable=True, rtt_s=round(rtt_ms / 1000, 6), loss_ratio=loss)

    def probes(self, source: str, neighbours: Iterable[str], now: float) -> tuple[Probe, ...]:
        """One probe round of ``source`` over its registry neighbours."""
        return tuple(self.probe(source, peer, now) for peer in neighbours)

    def nominal_rtt_ms(self, a: str, b: str) -> float:
        """The noise-free RTT of the link between ``a`` and ``b``."""
        return self._rtt_ms[link_key(a, b)]

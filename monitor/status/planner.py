"""The capacity planner (DESIGN §5 ``/api/v1/capacity``): pure functions over a ``Snapshot``.

Candidates are centers whose capacity counts (``monitor.status.capacity``, which also sums the
totals). Candidate paths run over usable links through live and stale centers and minimise the
path RTT (networkx's Dijkstra): per link the mean RTT of its fresh reachable probes, or the
registry's ``est_rtt_ms`` when no probe measured it (the candidate says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from agents.errors import ParameterError
from agents.protocol import RESOURCES, Resource
from monitor.registry import Registry
from monitor.status.capacity import counts_capacity
from monitor.status.model import Snapshot

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, slots=True)
class Candidate:
    """A center with enough of a resource, and the lowest-RTT usable path to it."""

    center: str
    available: float
    total: float
    path: tuple[str, ...]
    """From the query's origin to ``center``, both included."""
    hops: int
    path_rtt_s: float
    rtt_estimated: bool
    """True if some hop had no fresh RTT and the registry's ``est_rtt_ms`` stood in."""
    bottleneck_bandwidth_gbps: float | None
    """Lowest registry bandwidth along the path (None for the origin itself)."""


def _usable_graph(snapshot: Snapshot, registry: Registry) -> nx.Graph:
    """Usable links between forwarding (live or stale) centers, weighted by RTT in seconds."""
    # Imported here, not at module level: networkx adds ~22 MB to the aggregator's RSS, paid
    # only by deployments that ask the planner for candidates.
    import networkx as nx

    forwarding = {
        center for center, view in snapshot.centers.items() if view.live or view.status == "stale"
    }
    estimates = {link.key: link.est_rtt_ms for link in registry.links}
    graph = nx.Graph()
    graph.add_nodes_from(forwarding)
    for key, link in snapshot.links.items():
        if not link.usable or link.a not in forwarding or link.b not in forwarding:
            continue
        if link.rtt_s is not None:
            rtt, estimated = link.rtt_s, False
        else:
            rtt, estimated = (estimates[key] or 0.0) / 1000.0, True
        graph.add_edge(
            link.a, link.b, rtt_s=rtt, estimated=estimated, bandwidth_gbps=link.bandwidth_gbps
        )
    return graph


def find_candidates(  # noqa: PLR0917 - the agreed call shape of the HTTP layer
    snapshot: Snapshot,
    registry: Registry,
    resource: str,
    minimum: float,
    origin: str,
    max_rtt_ms: float | None = None,
) -> list[Candidate]:
    """Counted centers with at least ``minimum`` of ``resource`` available, reachable from
    ``origin``, with their lowest-RTT path; sorted by path RTT.

    Raises:
        ParameterError: for an unknown resource or origin, or a negative ``minimum``/``max_rtt_ms``.
    """
    if resource not in RESOURCES:
        raise ParameterError("resource", f"{resource!r} is not one of {', '.join(RESOURCES)}")
    if origin not in snapshot.centers:
        raise ParameterError("from", f"unknown center {origin!r}")
    if minimum < 0:
        raise ParameterError("min", "must not be negative")
    if max_rtt_ms is not None and max_rtt_ms < 0:
        raise ParameterError("max_rtt_ms", "must not be negative")
    origin_view = snapshot.centers[origin]
    if not (origin_view.live or origin_view.status == "stale"):
        return []
    graph = _usable_graph(snapshot, registry)
    from networkx import single_source_dijkstra

    rtts, paths = single_source_dijkstra(graph, origin, weight="rtt_s")
    found: list[Candidate] = []
    for center, rtt in rtts.items():
        view = snapshot.centers[center]
        amount = view.capacity.get(resource)
        if amount is None or amount.available < minimum or not counts_capacity(view):
            continue
        if max_rtt_ms is not None and rtt * 1000.0 > max_rtt_ms:
            continue
        found.append(_candidate(graph, paths[center], float(rtt), amount))
    found.sort(key=lambda c: (c.path_rtt_s, c.hops, c.center))
    return found


def _candidate(graph: nx.Graph, path: list[str], rtt_s: float, amount: Resource) -> Candidate:
    hops = [graph.edges[a, b] for a, b in pairwise(path)]
    return Candidate(
        center=path[-1],
        available=amount.available,
        total=amount.total,
        path=tuple(path),
        hops=len(hops),
        path_rtt_s=rtt_s,
        rtt_estimated=any(hop["estimated"] for hop in hops),
        bottleneck_bandwidth_gbps=min((hop["bandwidth_gbps"] for hop in hops), default=None),
    )

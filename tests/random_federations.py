"""Small random federations (registry and reported capacity) for the planning property tests."""

from __future__ import annotations

from typing import Any

import networkx as nx
from hypothesis import strategies as st

from agents.protocol import RESOURCES
from monitor.registry import Registry, parse_registry

Capacity = dict[str, dict[str, float]]


@st.composite
def federations(draw: st.DrawFn, max_centers: int = 8) -> tuple[Registry, Capacity]:
    """Up to ``max_centers`` centers (0-3 nationals, listed anywhere), random links, random
    locations, and small capacities that often tie (some centers report none)."""
    n = draw(st.integers(min_value=1, max_value=max_centers))
    ids = [f"c{i}" for i in range(n)]
    tiers = draw(
        st.lists(
            st.sampled_from(("national", "national", "regional", "provincial")),
            min_size=n,
            max_size=n,
        )
    )
    pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    links = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=2 * n)) if pairs else []
    centers: list[dict[str, Any]] = [
        {
            "id": cid,
            "name": cid,
            "tier": tier,
            "region": "r",
            "location": {
                "lat": draw(st.floats(min_value=8.0, max_value=23.0)),
                "lon": draw(st.floats(min_value=102.0, max_value=110.0)),
            },
        }
        for cid, tier in zip(ids, tiers, strict=True)
    ]
    registry = parse_registry(
        {
            "centers": centers,
            "links": [{"a": a, "b": b, "bandwidth_gbps": 10} for a, b in links],
        },
        "random",
    )
    capacity: Capacity = {}
    for cid in ids:
        if draw(st.booleans()):
            capacity[cid] = {
                name: float(draw(st.integers(min_value=0, max_value=3))) for name in RESOURCES[:2]
            }
    return registry, capacity


def graph_of(registry: Registry) -> nx.Graph:
    """The registry as a networkx graph."""
    graph = nx.Graph()
    graph.add_nodes_from(registry.center_ids())
    graph.add_edges_from(link.key for link in registry.links)
    return graph


def core_of(graph: nx.Graph, nationals: list[str]) -> tuple[str, ...]:
    """DESIGN §2's core, the slow obvious way: the largest group of nationals in one component
    of ``graph`` (ties: the group holding the first listed national)."""
    best: list[str] = []
    seen: set[str] = set()
    for national in nationals:
        if national in seen or national not in graph:
            continue
        group = [m for m in nationals if m in graph and nx.has_path(graph, national, m)]
        seen.update(group)
        if len(group) > len(best):
            best = group
    return tuple(best)


def reaches(graph: nx.Graph, core: tuple[str, ...]) -> set[str]:
    """Centers with a path to some core member."""
    return set(nx.node_connected_component(graph, core[0])) if core else set()


def one_failure_away(graph: nx.Graph, core: tuple[str, ...], center: str) -> bool:
    """Whether one link, or one center other than ``center`` (a core member only when the core
    has two or more), cuts ``center`` off the core: local connectivity below 2 to a super-node
    joined to the core (to the lone member itself for a one-member core)."""
    if center in core:
        return False
    target: str | tuple[str]
    if len(core) == 1:
        target = core[0]
        aux = graph
    else:
        target = ("core",)
        aux = graph.copy()
        aux.add_edges_from((target, m) for m in core)
    if nx.edge_connectivity(aux, center, target) < 2:
        return True
    return not aux.has_edge(center, target) and nx.node_connectivity(aux, center, target) < 2

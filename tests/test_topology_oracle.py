"""The engine's own single-point-of-failure analysis agrees with networkx, used as the oracle.

The engine computes biconnected components with one iterative Tarjan pass (networkx's
``articulation_points`` and ``bridges`` on the whole graph cost more than the re-evaluation
budget at 100,000 centers). Here networkx answers the same questions the slow, obvious way on
small random federations: remove one center or one link, and see who loses every core member.
"""

from __future__ import annotations

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.status.graph import Adjacency, resilience

NODES = [f"c{i}" for i in range(10)]


@st.composite
def federations(draw: st.DrawFn) -> tuple[nx.Graph, tuple[str, ...]]:
    """A random graph over up to 10 centers and a core of 1-3 mutually connected members."""
    n = draw(st.integers(min_value=2, max_value=len(NODES)))
    nodes = NODES[:n]
    pairs = [(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :]]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=2 * n))
    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    first = nodes[0]
    reachable = sorted(nx.node_connected_component(graph, first))
    extra = draw(st.lists(st.sampled_from(reachable), unique=True, max_size=2))
    core = tuple(dict.fromkeys([first, *extra]))
    return graph, core


def _adjacency(graph: nx.Graph) -> Adjacency:
    return {node: dict.fromkeys(graph.neighbors(node)) for node in graph.nodes}


def _reaches_core(graph: nx.Graph, center: str, core: tuple[str, ...]) -> bool:
    return any(member in graph and nx.has_path(graph, center, member) for member in core)


def _cut_off_by_center(graph: nx.Graph, core: tuple[str, ...], failed: str) -> set[str]:
    cut = graph.copy()
    cut.remove_node(failed)
    survivors = tuple(m for m in core if m != failed)
    reach = set(nx.node_connected_component(graph, core[0]))
    return {c for c in reach - {failed} if not _reaches_core(cut, c, survivors)}


def _cut_off_by_link(graph: nx.Graph, core: tuple[str, ...], link: tuple[str, str]) -> set[str]:
    cut = graph.copy()
    cut.remove_edge(*link)
    reach = set(nx.node_connected_component(graph, core[0]))
    return {c for c in reach if not _reaches_core(cut, c, core)}


@settings(max_examples=300, deadline=None)
@given(federations())
def test_single_points_of_failure_match_networkx(case: tuple[nx.Graph, tuple[str, ...]]) -> None:
    """Every center and link whose loss cuts centers off, and whom it cuts, as networkx finds."""
    graph, core = case
    found = resilience(core, _adjacency(graph))
    assert set(found.reach) == set(nx.node_connected_component(graph, core[0]))

    expected_centers = {}
    for failed in graph.nodes:
        if failed in core and len(core) == 1:
            continue  # a one-member core's own loss does not count (DESIGN §2)
        lost = _cut_off_by_center(graph, core, failed)
        if lost:
            expected_centers[failed] = lost
    assert {c: set(lost) for c, lost in found.cut_centers.items()} == expected_centers

    expected_links = {}
    for a, b in graph.edges:
        lost = _cut_off_by_link(graph, core, (a, b))
        if lost:
            expected_links[(a, b) if a < b else (b, a)] = lost
    assert {k: set(lost) for k, lost in found.bridges.items()} == expected_links

    # A center is one failure away exactly when some other center or some link cuts it off.
    one_failure_away = {
        c for failed, lost in expected_centers.items() for c in lost if c != failed
    } | {c for lost in expected_links.values() for c in lost}
    assert set(found.nearest_spof) == one_failure_away

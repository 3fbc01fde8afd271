"""Graph analysis of the usable federation: components, the core, and single points of failure.

Pure functions over an adjacency mapping (center id -> neighbour ids over usable links). The
single points of failure come from one iterative Tarjan pass (biconnected components, i.e. the
block-cut tree) rooted at the core: a virtual super-node joined to every core member when the
core has two or more members, the lone core member itself otherwise. A center is then one failure
away from losing the core exactly when the block it hangs in is a bridge, or hangs below a cut
center that counts (not the virtual node, not a lone core member). Linear time; no max-flow.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from monitor.status.model import LinkKey, link_key

Adjacency = Mapping[str, Collection[str]]

VIRTUAL_ROOT: Final = ""
"""The super-node joined to every core member (never a valid center id)."""


def components(nodes: Iterable[str], adjacency: Adjacency) -> dict[str, int]:
    """Index of the connected component of every node (numbered in the order of ``nodes``)."""
    component: dict[str, int] = {}
    count = 0
    neighbours_of = adjacency.get
    nothing: tuple[str, ...] = ()
    for start in nodes:
        if start in component:
            continue
        component[start] = count
        frontier = [start]
        grow = frontier.append
        while frontier:
            for peer in neighbours_of(frontier.pop(), nothing):
                if peer not in component:
                    component[peer] = count
                    grow(peer)
        count += 1
    return component


def find_core(live_nationals: Sequence[str], component: Mapping[str, int]) -> tuple[str, ...]:
    """The largest group of live national centers in one component (ties: first listed wins).

    Args:
        live_nationals: live national centers, in registry order.
        component: component index of every node of the usable graph.
    """
    groups: dict[int, list[str]] = {}
    for center in live_nationals:
        groups.setdefault(component[center], []).append(center)
    best: list[str] = []
    for members in groups.values():  # insertion order = order of each group's first member
        if len(members) > len(best):
            best = members
    return tuple(best)


@dataclass(slots=True)
class Resilience:
    """Who hangs on a single point of failure, within the core's component."""

    reach: list[str] = field(default_factory=list)
    """Every center that reaches the core (DFS pre-order)."""
    nearest_spof: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Centers one failure away from the core: the nearest SPOF, ``(center,)`` or ``(a, b)``."""
    cut_centers: dict[str, list[str]] = field(default_factory=dict)
    """Articulation center -> the centers its failure would cut off the core."""
    bridges: dict[LinkKey, list[str]] = field(default_factory=dict)
    """Bridge link (sorted ends) -> the centers its loss would cut off the core."""


@dataclass(slots=True)
class _BlockCutTree:
    """The block-cut tree of one component from an iterative Tarjan DFS rooted at ``root``."""

    order: list[str] = field(default_factory=list)
    disc: dict[str, int] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    top: dict[str, str] = field(default_factory=dict)
    """Every non-root node -> the cut node its block hangs below (the block's attachment)."""
    bridged: set[str] = field(default_factory=set)
    """Nodes whose block is a single edge to its top: that edge is a bridge."""
    children: dict[str, list[str]] = field(default_factory=dict)
    """Cut node -> first node of every block hanging below it."""


def _block_cut_tree(
    root: str, first: Collection[str], adjacency: Adjacency, virtual: frozenset[str]
) -> _BlockCutTree:
    """DFS from ``root``; ``virtual`` centers are also joined to the root (the super-node)."""
    tree = _BlockCutTree()
    order, disc, top = tree.order, tree.disc, tree.top
    low: dict[str, int] = {root: 0}
    disc[root] = 0
    order.append(root)
    pending: list[str] = []
    stack: list[tuple[str, str, Iterator[str]]] = [(root, root, iter(first))]
    # Hot loop (every center and link once): local names avoid attribute look-ups.
    disc_get, neighbours_of, push, remember = disc.get, adjacency.get, stack.append, order.append
    nothing: tuple[str, ...] = ()
    while stack:
        node, parent, peers = stack[-1]
        descended = False
        node_low = low[node]
        for peer in peers:
            seen = disc_get(peer)
            if seen is None:
                low[node] = node_low
                disc[peer] = low[peer] = len(order)
                remember(peer)
                pending.append(peer)
                peers_of_peer: Iterable[str] = neighbours_of(peer, nothing)
                if peer in virtual:
                    peers_of_peer = itertools.chain(peers_of_peer, (root,))
                push((peer, node, iter(peers_of_peer)))
                descended = True
                break
            if seen < node_low and peer != parent:
                node_low = seen
        if descended:
            continue
        low[node] = node_low
        stack.pop()
        tree.size[node] = len(order) - disc[node]
        if node == root:
            continue
        low[parent] = min(low[parent], low[node])
        if low[node] >= disc[parent]:
            members = 0
            while True:
                member = pending.pop()
                top[member] = parent
                members += 1
                if member == node:
                    break
            if members == 1 and parent != VIRTUAL_ROOT:
                tree.bridged.add(node)
            tree.children.setdefault(parent, []).append(node)
    return tree


def resilience(core: Sequence[str], adjacency: Adjacency) -> Resilience:
    """Single points of failure between every center of the core's component and the core.

    Removing a core member counts only when the core has two or more members.
    """
    result = Resilience()
    if not core:
        return result
    if len(core) >= 2:
        root = VIRTUAL_ROOT
        tree = _block_cut_tree(root, core, adjacency, frozenset(core))
    else:
        root = core[0]
        tree = _block_cut_tree(root, adjacency.get(root, ()), adjacency, frozenset())
    order, disc, size, top = tree.order, tree.disc, tree.size, tree.top
    # The virtual root is not a center; in a one-member core the member's loss does not count.
    for cut, heads in tree.children.items():
        if cut == root:
            continue
        lost: list[str] = []
        for head in heads:
            lost.extend(order[disc[head] : disc[head] + size[head]])
        result.cut_centers[cut] = lost
    for head in tree.bridged:
        parent = top[head]
        key = link_key(parent, head)
        result.bridges[key] = order[disc[head] : disc[head] + size[head]]
    for center, above in top.items():
        if center in tree.bridged:
            result.nearest_spof[center] = link_key(above, center)
        elif above != root:
            result.nearest_spof[center] = (above,)
    result.reach = order[1:] if root == VIRTUAL_ROOT else order
    return result

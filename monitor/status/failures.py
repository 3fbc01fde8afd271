"""Damage of hypothetical failures of the healthy federation, and the worst of them (DESIGN §10).

The healthy federation has every registered center live and every registered link up. A set of
failed centers and links is judged as DESIGN §2 judges a real failure: the failed elements leave
the graph, the core is found again over the remaining nationals (``find_core``), and a center
loses the core when it reached the core before and does not after; it loses redundancy when it
still reaches the core but now only over a single point of failure (status ``degraded``).

``damage`` is the reference definition (one pass over the damaged graph). ``rank_failures``
gives the same answers for every single or double failure without evaluating each one: one
Tarjan pass (``graph.resilience``) on ``G - x`` per first element ``x`` yields the lost set of
every pair ``{x, y}`` at once, from the centers and links that cut someone off in ``G - x``.
That pass is rooted at one core member; a pair that splits the core or shrinks it enough for
another group of nationals to compete is evaluated with ``damage`` instead. Redundancy (which
needs the single points of failure of ``G - x - y``) is resolved with ``damage`` only for the
failures that can still enter the top ``limit``.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import msgspec

from agents.errors import DcmonError, ParameterError
from agents.protocol import RESOURCES
from monitor.registry import LinkSpec, Registry
from monitor.status.federation import FederationIndex
from monitor.status.graph import Adjacency, components, find_core, resilience
from monitor.status.model import FailedElement, LinkKey, link_key

Progress = Callable[[float], None]
"""Called now and then with the fraction of the work done (0.0 to 1.0)."""
IsCancelled = Callable[[], bool]
"""Polled often; when it returns True the computation raises ``Cancelled``."""

SUGGESTED_LINK_GBPS: Final = 1.0
"""Nominal bandwidth of a link that does not exist yet (it plays no part in the analysis)."""
SHARE_MARGIN: Final = 1e-9
"""Slack when comparing running sums of capacity shares with the exact figures."""
_POLL_EVERY: Final = 512


class Cancelled(DcmonError):
    """A long planning computation stopped because its caller asked it to."""

    def __init__(self) -> None:
        super().__init__("the computation was cancelled")


@dataclass(frozen=True, slots=True, eq=False)
class HealthyFederation:
    """The registry with every center live and every link up, analysed once."""

    index: FederationIndex
    registry: Registry
    capacity: Mapping[str, Mapping[str, float]]
    """Available amount per resource of every center that reported capacity (RESOURCES only)."""
    core: tuple[str, ...]
    reach: frozenset[str]
    """Centers that reach the core."""
    single_homed: frozenset[str]
    """Centers that reach the core only over a single point of failure (``degraded``)."""
    reachable_total: Mapping[str, float]
    """Capacity of the centers that reach the core, per resource (registry order sums)."""
    rival: int
    """Size of the largest group of nationals outside the core's component (0 if none)."""

    @classmethod
    def of(
        cls, registry: Registry, capacity: Mapping[str, Mapping[str, float]]
    ) -> HealthyFederation:
        """Analyse ``registry`` healthy; ``capacity`` is each center's last *available* amount
        per resource (centers without a report contribute nothing)."""
        index = FederationIndex.of(registry)
        component = components(index.ids, index.neighbours)
        core = find_core(index.nationals, component)
        found = resilience(core, index.neighbours)
        reach = frozenset(found.reach)
        kept = {
            center: {name: float(amounts.get(name, 0.0)) for name in RESOURCES}
            for center, amounts in capacity.items()
            if center in index.position
        }
        groups = Counter(component[n] for n in index.nationals)
        if core:
            del groups[component[core[0]]]
        return cls(
            index=index,
            registry=registry,
            capacity=kept,
            core=core,
            reach=reach,
            single_homed=frozenset(found.nearest_spof),
            reachable_total=_capacity_sum(index.ids, reach, kept),
            rival=max(groups.values(), default=0),
        )

    def with_links(self, keys: Iterable[LinkKey]) -> HealthyFederation:
        """The same federation with new links (``role="suggested"``) between registered
        centers, e.g. to judge a suggestion."""
        extra = tuple(
            LinkSpec(a=a, b=b, bandwidth_gbps=SUGGESTED_LINK_GBPS, role="suggested")
            for a, b in keys
        )
        registry = msgspec.structs.replace(self.registry, links=self.registry.links + extra)
        return HealthyFederation.of(registry, self.capacity)

    def elements(self) -> tuple[FailedElement, ...]:
        """Every center (registry order), then every link (registry order), as failures."""
        centers = tuple(FailedElement("center", (c,)) for c in self.index.ids)
        return centers + tuple(FailedElement("link", link.key) for link in self.index.links)

    def share(self, amounts: Mapping[str, float]) -> float:
        """Mean over resources of ``amounts`` as a share of the healthy reachable total (a
        resource with a zero total counts 0)."""
        total = self.reachable_total
        shares = [amounts[r] / total[r] if total[r] > 0 else 0.0 for r in RESOURCES]
        return sum(shares) / len(RESOURCES)


def _capacity_sum(
    ids: Sequence[str], centers: Collection[str], capacity: Mapping[str, Mapping[str, float]]
) -> dict[str, float]:
    """Capacity of ``centers`` per resource of RESOURCES, summed in registry order."""
    sums = dict.fromkeys(RESOURCES, 0.0)
    for center in ids:
        amounts = capacity.get(center)
        if amounts is not None and center in centers:
            for name in RESOURCES:
                sums[name] += amounts[name]
    return sums


@dataclass(frozen=True, slots=True)
class Damage:
    """What one set of failed centers and links would do to the healthy federation."""

    elements: tuple[FailedElement, ...]
    """Sorted: centers first, then links (``link_key`` order ends)."""
    lost_core: tuple[str, ...]
    """Centers (not the failed ones) that reached the core and would not (registry order)."""
    lost_core_by_tier: Mapping[str, int]
    capacity_unreachable: Mapping[str, float]
    """Per resource: capacity of the centers that would no longer reach the core, failed ones
    included (registry order sums)."""
    capacity_share: float
    """``capacity_unreachable`` as the mean share of the healthy reachable totals (0.0-1.0)."""
    lost_redundancy: tuple[str, ...]
    """Centers that would still reach the core, but only over a single point of failure."""

    @property
    def label(self) -> str:
        """``hub-central``, ``a--b`` or ``hub-central + a--b``."""
        return " + ".join(e.label for e in self.elements)


def rank_key(found: Damage) -> tuple[int, float, int, str]:
    """Sort key, worst first: lost core, capacity share, lost redundancy, then label."""
    return (-len(found.lost_core), -found.capacity_share, -len(found.lost_redundancy), found.label)


def without(adjacency: Adjacency, down: Collection[str], cut: Collection[LinkKey]) -> Adjacency:
    """``adjacency`` minus the ``down`` centers and the ``cut`` links (the rest is shared)."""
    out = dict(adjacency)
    touched = {peer for center in down for peer in adjacency.get(center, ())}
    touched.update(end for key in cut for end in key)
    for center in touched:
        out[center] = [
            peer
            for peer in adjacency[center]
            if peer not in down and link_key(center, peer) not in cut
        ]
    for center in down:
        out.pop(center, None)
    return out


def _checked(
    fed: HealthyFederation, elements: Iterable[FailedElement]
) -> tuple[FailedElement, ...]:
    """The elements, links keyed by ``link_key``, each once, sorted; unknown ones refused."""
    chosen: set[FailedElement] = set()
    for element in elements:
        if element.kind == "center" and len(element.ids) == 1:
            if element.ids[0] not in fed.index.position:
                raise ParameterError("down", f"unknown center {element.ids[0]!r}")
            chosen.add(element)
        elif element.kind == "link" and len(element.ids) == 2:
            key = link_key(*element.ids)
            if key not in fed.index.link_by_key:
                raise ParameterError("cut", f"{element.label} is not a registered link")
            chosen.add(FailedElement("link", key))
        else:
            raise ParameterError("elements", f"{element.kind} {element.label} cannot fail here")
    return tuple(sorted(chosen))


def damage(fed: HealthyFederation, elements: Iterable[FailedElement]) -> Damage:
    """What failing ``elements`` (centers and links) together would do (DESIGN §2).

    Raises:
        ParameterError: an unknown center, a link that is not registered, or another kind.
    """
    chosen = _checked(fed, elements)
    down = {e.ids[0] for e in chosen if e.kind == "center"}
    cut = {(e.ids[0], e.ids[1]) for e in chosen if e.kind == "link"}
    index = fed.index
    adjacency = without(index.neighbours, down, cut)
    alive = [c for c in index.ids if c not in down]
    core = find_core([n for n in index.nationals if n not in down], components(alive, adjacency))
    after = resilience(core, adjacency)
    return _damage_of(fed, chosen, frozenset(after.reach), after.nearest_spof)


def _damage_of(
    fed: HealthyFederation,
    chosen: tuple[FailedElement, ...],
    reach: Collection[str],
    single_homed: Collection[str],
) -> Damage:
    index, before = fed.index, fed.reach
    gone = [c for c in index.ids if c in before and c not in reach]
    down = {e.ids[0] for e in chosen if e.kind == "center"}
    lost = tuple(c for c in gone if c not in down)
    unreachable = _capacity_sum(index.ids, frozenset(gone), fed.capacity)
    return Damage(
        elements=chosen,
        lost_core=lost,
        lost_core_by_tier=dict(sorted(Counter(index.tier[c] for c in lost).items())),
        capacity_unreachable=unreachable,
        capacity_share=fed.share(unreachable),
        lost_redundancy=tuple(
            c
            for c in index.ids
            if c in reach and c in single_homed and c in before and c not in fed.single_homed
        ),
    )


@dataclass(frozen=True, slots=True)
class Ranking:
    """The worst failures of ``k`` elements, worst first."""

    k: int
    failures: tuple[Damage, ...]
    evaluated: int
    """How many failure sets were considered."""


def rank_failures(
    fed: HealthyFederation,
    k: int,
    limit: int,
    *,
    progress: Progress | None = None,
    cancelled: IsCancelled | None = None,
) -> Ranking:
    """The ``limit`` single (k=1) or double (k=2) failures of centers or links that hurt most.

    Ranked by ``rank_key``; equal to evaluating ``damage`` for every set. A pair of a center and
    a link it ends is not considered (the link adds nothing).

    Raises:
        ParameterError: ``k`` not 1 or 2, ``limit`` below 1.
        Cancelled: ``cancelled()`` returned True.
    """
    if k not in (1, 2):
        raise ParameterError("k", "must be 1 or 2")
    if limit < 1:
        raise ParameterError("limit", "must be at least 1")
    search = _Search(fed, limit, progress, cancelled)
    if not fed.core:
        search.without_core(k)
    elif k == 1:
        search.singles()
    else:
        search.pairs()
    return Ranking(k=k, failures=search.top(), evaluated=search.evaluated)


@dataclass(slots=True)
class _Pass:
    """One Tarjan pass on the federation minus a base failure, rooted at one core member."""

    reach: frozenset[str]
    cutting: dict[FailedElement, list[str]]
    """Center or link -> the centers its further loss would cut off the root."""


class _Search:
    """The candidates that can still enter the top ``limit``, by (lost core, capacity share).

    Shares are running sums here (``SHARE_MARGIN`` of slack); every candidate left at the end is
    evaluated exactly with ``damage``, which also gives the redundancy lost.
    """

    def __init__(
        self,
        fed: HealthyFederation,
        limit: int,
        progress: Progress | None,
        cancelled: IsCancelled | None,
    ) -> None:
        self.fed = fed
        self.limit = limit
        self.progress = progress
        self.cancelled = cancelled
        self.evaluated = 0
        self.elements = fed.elements()
        self.order = {e: i for i, e in enumerate(self.elements)}
        self.center_share = {
            c: fed.share(amounts) for c, amounts in fed.capacity.items() if c in fed.reach
        }
        self.best_share = max(self.center_share.values(), default=0.0)
        self.best: list[tuple[int, float]] = []
        """Min-heap of the best ``limit`` (lost, share) seen."""
        self.pool: list[tuple[int, float, tuple[FailedElement, ...]]] = []
        self.prune_at = 4 * limit + 256
        self.polls = 0
        self.core = frozenset(fed.core)

    # --- bookkeeping ---------------------------------------------------------------------------

    def poll(self) -> None:
        """Raise ``Cancelled`` if the caller asked for it."""
        if self.cancelled is not None and self.cancelled():
            raise Cancelled

    def tick(self) -> None:
        """Poll now and then from inner loops."""
        self.polls += 1
        if self.polls % _POLL_EVERY == 0:
            self.poll()

    def admits(self, lost: int, share: float) -> bool:
        """Whether a failure this bad could still enter the top ``limit``."""
        if len(self.best) < self.limit:
            return True
        floor_lost, floor_share = self.best[0]
        return lost > floor_lost or (lost == floor_lost and share >= floor_share - SHARE_MARGIN)

    def offer(self, lost: int, share: float, chosen: tuple[FailedElement, ...]) -> None:
        """A candidate failure set with its lost-core count and (running) capacity share."""
        if not self.admits(lost, share):
            return
        if len(self.best) < self.limit:
            heapq.heappush(self.best, (lost, share))
        elif (lost, share) > self.best[0]:
            heapq.heapreplace(self.best, (lost, share))
        self.pool.append((lost, share, chosen))
        if len(self.pool) > self.prune_at:
            self.pool = [c for c in self.pool if self.admits(c[0], c[1])]
            self.prune_at = max(self.prune_at, 2 * len(self.pool))

    def exact(self, chosen: tuple[FailedElement, ...]) -> None:
        """A failure set the fast path cannot judge: evaluate it with ``damage``."""
        self.poll()
        found = damage(self.fed, chosen)
        self.offer(len(found.lost_core), found.capacity_share, chosen)

    def top(self) -> tuple[Damage, ...]:
        """The top ``limit``, each evaluated exactly."""
        found = []
        for lost, share, chosen in self.pool:
            if self.admits(lost, share):
                self.poll()
                found.append(damage(self.fed, chosen))
        found.sort(key=rank_key)
        return tuple(found[: self.limit])

    def report(self, done: int, total: int) -> None:
        """Tell ``progress`` about once per percent."""
        step = max(1, total // 100)
        if self.progress is not None and (done % step == 0 or done == total):
            self.progress(done / total)

    # --- the fast path -------------------------------------------------------------------------

    def run_pass(self, down: Collection[str], cut: Collection[LinkKey], root: str) -> _Pass:
        """Who each further center or link would cut off ``root`` in the damaged federation."""
        adjacency = without(self.fed.index.neighbours, down, cut)
        found = resilience((root,), adjacency)
        cutting: dict[FailedElement, list[str]] = {
            FailedElement("center", (c,)): lost for c, lost in found.cut_centers.items()
        }
        for key, lost in found.bridges.items():
            cutting[FailedElement("link", key)] = lost
        return _Pass(frozenset(found.reach), cutting)

    def core_holds(self, down: Collection[str]) -> bool:
        """Whether the core left after ``down`` still outnumbers every other group of
        nationals (given it stays in one piece)."""
        survivors = sum(1 for m in self.fed.core if m not in down)
        return survivors > self.fed.rival

    def splits(self, lost: Collection[str]) -> bool:
        """Whether cutting ``lost`` off the root takes core members with it."""
        core = self.core
        return len(core) > 1 and not core.isdisjoint(lost)

    def singles(self) -> None:
        """Every single center or link."""
        fed, core = self.fed, self.fed.core
        base = self.run_pass((), (), core[0])
        share = self.center_share
        for element in self.elements:
            self.tick()
            self.evaluated += 1
            chosen = (element,)
            down = element.ids if element.kind == "center" else ()
            lost = base.cutting.get(element, ())
            if element.ids == (core[0],) or self.splits(lost) or not self.core_holds(down):
                self.exact(chosen)
                continue
            total = sum(share.get(c, 0.0) for c in lost)
            if down and down[0] in fed.reach:
                total += share.get(down[0], 0.0)
            self.offer(len(lost), total, chosen)
        self.report(1, 1)

    def pairs(self) -> None:
        """Every unordered pair; the pairs holding ``core[0]`` run in its own pass (rooted at
        another core member), every other pair in the pass of its first element."""
        elements, core = self.elements, self.fed.core
        first = FailedElement("center", (core[0],))
        for i, x in enumerate(elements):
            self.poll()
            if x == first:
                partners: Sequence[FailedElement] = [
                    y for y in elements if y != x and y.ids != core[1:2]
                ]
                if len(core) > 1:
                    self.evaluated += 1
                    self.exact((x, FailedElement("center", (core[1],))))
                root = core[1] if len(core) > 1 else None
            else:
                partners = [y for y in elements[i + 1 :] if y != first]
                root = core[0]
            self.pairs_with(x, partners, root)
            self.report(i + 1, len(elements))

    def pairs_with(
        self, x: FailedElement, partners: Sequence[FailedElement], root: str | None
    ) -> None:
        """Every pair of ``x`` and one of ``partners`` (neither is ``root``)."""
        fed = self.fed
        down_x = x.ids if x.kind == "center" else ()
        cut_x = ((x.ids[0], x.ids[1]),) if x.kind == "link" else ()
        usable = [y for y in partners if not _incident(x, y)]
        self.evaluated += len(usable)
        if root is None or not self.core_holds(down_x):
            for y in usable:
                self.exact(_pair(x, y))
            return
        scan = self.run_pass(down_x, cut_x, root)
        if any(m not in scan.reach for m in fed.core if m not in down_x):
            for y in usable:  # x alone splits the core
                self.exact(_pair(x, y))
            return
        share = self.center_share
        gone = fed.reach - scan.reach  # the centers x cuts off, and x itself
        lost_x = len(gone) - (1 if down_x and down_x[0] in fed.reach else 0)
        share_x = sum(share.get(c, 0.0) for c in gone)
        bulk = self.admits(lost_x, share_x + self.best_share)
        for y in usable:
            self.tick()
            cut_off = scan.cutting.get(y)
            down_y = y.ids[0] if y.kind == "center" else None
            in_core = down_y is not None and down_y in self.core
            if cut_off is None and not bulk and not in_core:
                continue
            if (cut_off is not None and self.splits(cut_off)) or (
                in_core and not self.core_holds((*down_x, y.ids[0]))
            ):
                self.exact(_pair(x, y))
                continue
            if cut_off is not None:
                total = share_x + sum(share.get(c, 0.0) for c in cut_off)
                total += share.get(down_y, 0.0) if down_y is not None else 0.0
                self.offer(lost_x + len(cut_off), total, _pair(x, y))
            elif down_y is None:
                self.offer(lost_x, share_x, _pair(x, y))
            elif down_y in gone:
                self.offer(lost_x - 1, share_x, _pair(x, y))
            elif down_y in scan.reach:
                self.offer(lost_x, share_x + share.get(down_y, 0.0), _pair(x, y))
            else:
                self.offer(lost_x, share_x, _pair(x, y))

    def without_core(self, k: int) -> None:
        """No national center at all: nothing reaches a core, every failure does nothing."""
        chosen = list(_sets(self.elements, k))
        self.evaluated = len(chosen)
        for part in heapq.nsmallest(
            self.limit, chosen, key=lambda s: " + ".join(e.label for e in s)
        ):
            self.pool.append((0, 0.0, part))


def _incident(x: FailedElement, y: FailedElement) -> bool:
    """A center and a link it ends (the link's loss adds nothing to the center's)."""
    if x.kind == y.kind:
        return False
    center, link = (x, y) if x.kind == "center" else (y, x)
    return center.ids[0] in link.ids


def _pair(x: FailedElement, y: FailedElement) -> tuple[FailedElement, ...]:
    return (x, y) if x < y else (y, x)


def _sets(elements: Sequence[FailedElement], k: int) -> Iterator[tuple[FailedElement, ...]]:
    """Every set of ``k`` elements the ranking considers (sorted tuples)."""
    if k == 1:
        yield from ((e,) for e in elements)
        return
    for i, x in enumerate(elements):
        for y in elements[i + 1 :]:
            if not _incident(x, y):
                yield _pair(x, y)


def failure_sets(fed: HealthyFederation, k: int) -> Iterator[tuple[FailedElement, ...]]:
    """Every set of ``k`` (1 or 2) elements ``rank_failures`` considers: the reference for
    brute-force checks."""
    return _sets(fed.elements(), k)

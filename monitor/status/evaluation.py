"""One evaluation: from the evidence about every center to statuses, link states and causes.

Implements DESIGN §2 exactly; ``StatusEngine`` decides when to call it and wraps the result
into a ``Snapshot``. Pure: the time comes in as an argument.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from agents.protocol import Probe
from monitor.status.evidence import CenterRecord
from monitor.status.federation import FederationIndex
from monitor.status.graph import Resilience, components, find_core, resilience
from monitor.status.incidents import Circumstances, Reach, derive_findings
from monitor.status.model import (
    USABLE_LINK_STATES,
    FailedElement,
    Finding,
    LinkKey,
    LinkState,
    RootCause,
    Status,
    link_key,
)


@dataclass(frozen=True, slots=True)
class Judging:
    """The settings and circumstances one evaluation runs under."""

    now: float
    misses: int
    default_interval_s: float
    probe_fresh_s: float
    degraded_rtt_s: float | None
    degraded_loss_ratio: float | None
    blind: bool
    grace_start: float | None
    maintenance: frozenset[str]
    """Centers inside a maintenance window now."""
    maintenance_links: frozenset[LinkKey] = frozenset()
    """Links inside a maintenance window now (judged as usual, never a failed element)."""
    welcome: Mapping[str, float] = field(default_factory=dict)
    """Centers added to the registry at runtime, with the time they were added: each is
    ``unknown`` for one heartbeat window from then unless heard sooner (a grace of its own)."""
    grace_window_s: float = 0.0
    """Length of the grace period after ``grace_start`` (one heartbeat window)."""
    grace_extra_s: float = 0.0
    """How much longer the grace period lasts after a blind spell (agents still backing off)."""


@dataclass(slots=True)
class LinkJudgement:
    """What the fresh, counted reports say about one registered link."""

    state: LinkState
    rtt_s: float | None
    loss_ratio: float | None
    breach: bool


@dataclass(slots=True)
class Picture:
    """Everything one evaluation derived."""

    status: dict[str, Status] = field(default_factory=dict)
    why: dict[str, str] = field(default_factory=dict)
    cause: dict[str, RootCause | None] = field(default_factory=dict)
    live: set[str] = field(default_factory=set)
    provisional: set[str] = field(default_factory=set)
    links: dict[LinkKey, LinkJudgement] = field(default_factory=dict)
    adjacency: dict[str, dict[str, None]] = field(default_factory=dict)
    rejudged: set[LinkKey] | None = None
    """Links judged again by this evaluation (None: all of them)."""
    core: tuple[str, ...] = ()
    partition: dict[str, int] = field(default_factory=dict)
    partitions: int = 0
    resilience: Resilience = field(default_factory=Resilience)
    grace_until: float | None = None
    """The earliest future end of a center's grace period (a deadline), if any."""
    welcome_until: float | None = None
    """The earliest future end of a newly registered center's own grace (a deadline), if any."""
    maintenance_links: frozenset[LinkKey] = frozenset()
    """Links inside a maintenance window (shown as such; they open no incident)."""


def derive(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    previous: Picture | None = None,
    touched: Collection[str] = (),
) -> Picture:
    """Derive every center's status from the evidence (DESIGN §2).

    With the ``previous`` picture, only the links of ``touched`` centers (whose reports changed
    or went stale) and of centers whose liveness changed are judged again.
    """
    picture = Picture(maintenance_links=j.maintenance_links)
    _judge_liveness(index, records, j, picture)
    graph_live = picture.live | picture.provisional
    if previous is None:
        _judge_links(index, records, j, graph_live, picture)
    else:
        changed = set(touched) | (graph_live ^ (previous.live | previous.provisional))
        _rejudge_links(index, records, j, graph_live, picture, previous, changed)
    _judge_graph(index, records, j, picture)
    return picture


def _judge_graph(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    picture: Picture,
    *,
    explain: bool = True,
) -> None:
    """From liveness and usable links: partitions, the core, resilience and every status."""
    graph_live = picture.live | picture.provisional
    adjacency = picture.adjacency
    forwarding = [c for c in index.ids if c in graph_live or adjacency.get(c)]
    picture.partition = components(forwarding, adjacency)
    # A center being worked on, cut off alone, does not split the federation.
    picture.partitions = len(
        {part for center, part in picture.partition.items() if center not in j.maintenance}
    )
    live_nationals = [c for c in index.nationals if c in graph_live]
    picture.core = find_core(live_nationals, picture.partition)
    picture.resilience = resilience(picture.core, adjacency)
    _judge_statuses(index, records, j, picture, explain=explain)


def counterfactual_statuses(  # noqa: PLR0917 - the incident deriver's one call
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    picture: Picture,
    live: Collection[str],
    links: Collection[LinkKey],
) -> dict[str, Status]:
    """Every status if the ``live`` centers were live and the ``links`` up, all else unchanged.

    What an evaluation would say were those failures repaired (DESIGN §9): the same rules on
    the same evidence, with the repaired centers and links put back into the graph.
    """
    adjacency = dict(picture.adjacency)
    judged = dict(picture.links)
    for a, b in links:
        judged[(a, b)] = LinkJudgement("up", None, None, breach=False)
        for end, other in ((a, b), (b, a)):
            peers = dict(adjacency.get(end, {}))
            peers[other] = None
            adjacency[end] = peers
    what_if = Picture(
        live=picture.live | set(live),
        provisional=picture.provisional,
        links=judged,
        adjacency=adjacency,
    )
    _judge_graph(index, records, j, what_if, explain=False)
    return what_if.status


def picture_findings(  # noqa: PLR0917 - one evaluation's whole context
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    picture: Picture,
    elements: list[FailedElement],
    circumstances: Circumstances,
) -> list[Finding]:
    """The incidents (DESIGN §9) of ``picture``'s failed ``elements``: each repair is judged by
    ``counterfactual_statuses`` over the same evidence."""

    def what_if(live: Collection[str], links: Collection[LinkKey]) -> dict[str, Status]:
        return counterfactual_statuses(index, records, j, picture, live, links)

    live_nationals = {
        picture.partition[c]
        for c in index.nationals
        if c in picture.live and c in picture.partition
    }
    graph = Reach(
        reach=frozenset(picture.resilience.reach),
        component=picture.partition,
        national_components=live_nationals,
    )
    return derive_findings(picture.status, elements, what_if, circumstances, graph)


def _judge_liveness(
    index: FederationIndex, records: Mapping[str, CenterRecord], j: Judging, picture: Picture
) -> None:
    grace_until: float | None = None
    welcome_until: float | None = None
    now, misses, default = j.now, j.misses, j.default_interval_s
    live = picture.live
    for center in index.ids:
        record = records[center]
        alive_at = record.last_alive_at
        if (
            alive_at is not None
            and not record.offline
            and now < alive_at + misses * (record.heartbeat_interval_s or default)
        ):
            live.add(center)
        elif not record.offline:
            # Silent only because no heartbeat arrived yet since start, reconnect or registration.
            window = record.window(misses, default)
            if j.grace_start is not None:
                end = j.grace_start + window + j.grace_extra_s
                if now < end:
                    picture.provisional.add(center)
                    grace_until = end if grace_until is None else min(grace_until, end)
            added = j.welcome.get(center)
            if added is not None and now < added + window:
                picture.provisional.add(center)
                end = added + window
                welcome_until = end if welcome_until is None else min(welcome_until, end)
    picture.grace_until = grace_until
    picture.welcome_until = welcome_until


def _counted_probes(
    records: Mapping[str, CenterRecord], j: Judging, graph_live: set[str]
) -> dict[str, dict[str, Probe]]:
    counted: dict[str, dict[str, Probe]] = {}
    for center in graph_live:
        record = records[center]
        if record.probes and record.probes_fresh(j.now, j.probe_fresh_s):
            counted[center] = record.probes
    return counted


def _rejudge_links(  # noqa: PLR0917 - one private step of derive()
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    graph_live: set[str],
    picture: Picture,
    previous: Picture,
    changed: set[str],
) -> None:
    links = picture.links = dict(previous.links)
    adjacency = picture.adjacency = dict(previous.adjacency)
    copied: set[str] = set()
    empty: dict[str, Probe] = {}
    counted: dict[str, dict[str, Probe]] = {}
    for center in changed:
        for peer in (center, *index.neighbours[center]):
            if peer not in counted:
                record = records[peer]
                fresh = peer in graph_live and record.probes_fresh(j.now, j.probe_fresh_s)
                counted[peer] = record.probes if fresh else empty
    done: set[LinkKey] = set()
    picture.rejudged = done
    for center in changed:
        for peer in index.neighbours[center]:
            key = link_key(center, peer)
            if key in done:
                continue
            done.add(key)
            judged = judge_link(
                counted[center].get(peer),
                counted[peer].get(center),
                j.degraded_rtt_s,
                j.degraded_loss_ratio,
            )
            usable_before = links[key].state in USABLE_LINK_STATES
            links[key] = judged
            if usable_before == (judged.state in USABLE_LINK_STATES):
                continue
            for end, other in ((center, peer), (peer, center)):
                if end not in copied:
                    adjacency[end] = dict(adjacency.get(end, {}))
                    copied.add(end)
                if usable_before:
                    del adjacency[end][other]
                else:
                    adjacency[end][other] = None


def _judge_links(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    graph_live: set[str],
    picture: Picture,
) -> None:
    counted = _counted_probes(records, j, graph_live)
    adjacency = picture.adjacency
    empty: dict[str, Probe] = {}
    rtt_limit = j.degraded_rtt_s
    loss_limit = j.degraded_loss_ratio
    for link in index.links:
        a, b = link.a, link.b
        judged = judge_link(
            counted.get(a, empty).get(b), counted.get(b, empty).get(a), rtt_limit, loss_limit
        )
        picture.links[link.key] = judged
        if judged.state in USABLE_LINK_STATES:
            adjacency.setdefault(a, {})[b] = None
            adjacency.setdefault(b, {})[a] = None


def failing_links(picture: Picture) -> list[LinkKey]:
    """The down links that may be failed elements (DESIGN §9): not inside a maintenance window."""
    resting = picture.maintenance_links
    return [
        key for key, link in picture.links.items() if link.state == "down" and key not in resting
    ]


def judge_link(
    forward: Probe | None,
    backward: Probe | None,
    rtt_limit: float | None,
    loss_limit: float | None,
) -> LinkJudgement:
    """A link's state and quality from the counted probes of its two ends (None: no report)."""
    reports = [p for p in (forward, backward) if p is not None]
    if not reports:
        return LinkJudgement("unknown", None, None, breach=False)
    reachable = sum(1 for p in reports if p.reachable)
    state: LinkState
    if reachable == len(reports):
        state = "up"
    elif reachable == 0:
        state = "down"
    else:
        state = "asymmetric"
    rtts = [p.rtt_s for p in reports if p.reachable and p.rtt_s is not None]
    losses = [p.effective_loss for p in reports]
    breach = any(
        (rtt_limit is not None and p.rtt_s is not None and p.rtt_s > rtt_limit)
        or (loss_limit is not None and p.effective_loss > loss_limit)
        for p in reports
        if p.reachable
    )
    return LinkJudgement(
        state, sum(rtts) / len(rtts) if rtts else None, sum(losses) / len(losses), breach
    )


def _judge_statuses(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    picture: Picture,
    *,
    explain: bool = True,
) -> None:
    reach = set(picture.resilience.reach)
    core = set(picture.core)
    nearest = picture.resilience.nearest_spof
    status = picture.status
    why = picture.why
    cause = picture.cause
    observers = _observers(index, records, j, picture, reach)
    poor_ends = {end for key, link in picture.links.items() if link.breach for end in key}
    for center in index.ids:
        if center in picture.live or center in picture.provisional:
            if center in picture.provisional:
                status[center] = "unknown"
                why[center] = "no heartbeat yet since the monitor started or reconnected (grace)"
                cause[center] = RootCause("monitor", ())
            elif center in core:
                status[center] = "connected"
            elif center in reach:
                spof = nearest.get(center)
                if spof is not None:
                    status[center] = "degraded"
                    cause[center] = RootCause("center" if len(spof) == 1 else "link", spof)
                    why[center] = _spof_sentence(spof)
                elif center in poor_ends and _poor_links(index, center, picture):
                    status[center] = "degraded"
                    cause[center] = RootCause("center", (center,))
                    why[center] = "every usable link of it breaches the link-quality thresholds"
                else:
                    status[center] = "connected"
            else:
                status[center] = "isolated"
        elif center in reach:
            status[center] = "stale"
            cause[center] = RootCause("center", (center,))
            seen_by = observers.get(center)
            why[center] = (
                f"its agent is silent ({_silence(records[center])}), but "
                f"{seen_by or 'a neighbour'}'s probe still reaches it over a path to the core"
            )
        elif center in observers:
            status[center] = "down"
            cause[center] = RootCause("center", (center,))
            why[center] = (
                f"its agent is silent ({_silence(records[center])}) and {observers[center]}, "
                "which reaches the core, cannot reach it"
            )
        else:
            status[center] = "unreachable"
    if explain:
        _explain_cut_off(index, picture, reach)
    _hold_unproven_during_grace(index, j, picture)
    _apply_overrides(index, j, picture)


def _hold_unproven_during_grace(index: FederationIndex, j: Judging, picture: Picture) -> None:
    """During the grace period, do not declare a center cut off for want of link reports.

    After a start or a reconnect, retained link reports restore most of the picture, but a link
    whose reports went stale while the monitor was blind (or that nobody reported yet) is
    ``unknown``. A center that would reach the core (or reach it redundantly) if those unknown
    links worked is ``unknown`` until the grace period ends, rather than ``isolated``,
    ``unreachable`` or ``degraded``: absence of evidence is not a page. Centers with contrary
    evidence (a down link, a will) are judged as usual.
    """
    if j.grace_start is None or j.blind:
        return
    end = j.grace_start + j.grace_window_s + j.grace_extra_s
    if j.now >= end:
        return
    picture.grace_until = end if picture.grace_until is None else min(picture.grace_until, end)
    held = [c for c in index.ids if picture.status[c] in ("isolated", "unreachable", "degraded")]
    unknown_links = [key for key, link in picture.links.items() if link.state == "unknown"]
    if not held or not unknown_links:
        return
    optimistic = {center: dict(peers) for center, peers in picture.adjacency.items()}
    for a, b in unknown_links:
        optimistic.setdefault(a, {})[b] = None
        optimistic.setdefault(b, {})[a] = None
    graph_live = picture.live | picture.provisional
    forwarding = [c for c in index.ids if c in graph_live or optimistic.get(c)]
    component = components(forwarding, optimistic)
    core = find_core([c for c in index.nationals if c in graph_live], component)
    if not core:
        return
    hoped = resilience(core, optimistic)
    reach, spof = set(hoped.reach), hoped.nearest_spof
    for center in held:
        if center not in reach:
            continue
        if picture.status[center] == "degraded" and (
            center in spof or picture.cause[center] == RootCause("center", (center,))
        ):
            continue  # still one failure away (or its own links are poor): really degraded
        picture.status[center] = "unknown"
        picture.cause[center] = RootCause("monitor", ())
        picture.why[center] = (
            "waiting for fresh link reports since the monitor started or reconnected (grace)"
        )


def _observers(
    index: FederationIndex,
    records: Mapping[str, CenterRecord],
    j: Judging,
    picture: Picture,
    reach: set[str],
) -> dict[str, str]:
    """Silent centers that a live neighbour in the core's reach reports unreachable (or, for
    stale ones, reachable): center -> that neighbour."""
    found: dict[str, str] = {}
    for center in index.ids:
        if center in picture.live or center in picture.provisional:
            continue
        for peer in index.neighbours[center]:
            if peer not in reach or (peer not in picture.live and peer not in picture.provisional):
                continue
            record = records[peer]
            probe = record.probes.get(center)
            if probe is None or not record.probes_fresh(j.now, j.probe_fresh_s):
                continue
            if probe.reachable == (center in reach):
                found[center] = peer
                break
    return found


def _poor_links(index: FederationIndex, center: str, picture: Picture) -> bool:
    usable = 0
    for peer in index.neighbours[center]:
        judgement = picture.links[link_key(center, peer)]
        if judgement.state in USABLE_LINK_STATES:
            if not judgement.breach:
                return False
            usable += 1
    return usable > 0


def _spof_sentence(spof: tuple[str, ...]) -> str:
    if len(spof) == 1:
        return f"it reaches the core only through {spof[0]} (a single point of failure)"
    return f"it reaches the core only over the link {spof[0]}--{spof[1]} (a bridge)"


def _silence(record: CenterRecord) -> str:
    if record.offline:
        return f"offline: {record.offline_reason}"
    if not record.heard:
        return "never heard from"
    return "no heartbeat within its window"


def _explain_cut_off(index: FederationIndex, picture: Picture, reach: set[str]) -> None:
    """Root cause and sentence for isolated and unreachable centers: the nearest failed center
    or cut link between each and the core (multi-source BFS from the core's reach)."""
    status = picture.status
    cut_off = [c for c in index.ids if status[c] in ("isolated", "unreachable")]
    if not cut_off:
        return
    if not picture.core:
        first = index.nationals[0] if index.nationals else None
        for center in cut_off:
            ids = (first,) if first is not None else (center,)
            picture.cause[center] = RootCause("center", ids)
            picture.why[center] = (
                "no live national center reaches another: there is no core"
                if status[center] == "isolated"
                else "its agent is silent and there is no core to reach it from"
            )
        return
    graph_live = picture.live | picture.provisional
    found: dict[str, RootCause] = {}
    queue: deque[str] = deque()
    for center in index.ids:
        if center not in reach:
            continue
        for peer in index.neighbours[center]:
            if peer in reach or peer in found:
                continue
            if peer in graph_live:
                key = link_key(center, peer)
                found[peer] = RootCause("link", key)
            else:
                found[peer] = RootCause("center", (peer,))
            queue.append(peer)
    while queue:
        node = queue.popleft()
        for peer in index.neighbours[node]:
            if peer not in reach and peer not in found:
                found[peer] = found[node]
                queue.append(peer)
    for center in cut_off:
        root = found.get(center, RootCause("center", (center,)))
        picture.cause[center] = root
        cause_text = _cause_sentence(root, picture)
        if status[center] == "isolated":
            if center in index.nationals:
                picture.why[center] = f"a live national center outside the core; {cause_text}"
            else:
                picture.why[center] = (
                    f"its agent is live but no usable path reaches the core; {cause_text}"
                )
        elif root.ids == (center,):
            picture.why[center] = (
                "its agent is silent and no neighbour that reaches the core observes it"
            )
        else:
            picture.why[center] = f"its agent is silent and it sits behind a failure; {cause_text}"


def _cause_sentence(root: RootCause, picture: Picture) -> str:
    if root.kind == "link":
        state = picture.links[(root.ids[0], root.ids[1])].state
        return f"root cause: the link {root.label} is {state}"
    return f"root cause: {root.label} is {picture.status.get(root.ids[0], 'unknown')}"


def _apply_overrides(index: FederationIndex, j: Judging, picture: Picture) -> None:
    if j.blind:
        for center in index.ids:
            picture.status[center] = "unknown"
            picture.cause[center] = RootCause("monitor", ())
            picture.why[center] = "the monitor has lost its broker (blind): nothing can be judged"
        return
    for center in j.maintenance:
        picture.status[center] = "maintenance"
        picture.cause[center] = RootCause("center", (center,))
        picture.why[center] = "inside a declared maintenance window"

"""A small hand-built federation and a feeder that plays agents' messages into a status engine."""

from __future__ import annotations

from collections.abc import Iterable

from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    Message,
    MessageKind,
    Probe,
    RejectReason,
    Resource,
)
from monitor.registry import Registry, parse_registry
from monitor.status.engine import EngineSettings, StatusEngine
from monitor.status.model import Snapshot, Status

# n1, n2: the national core; hub-a dual-homed with a protected ring p1-p2-p3 behind it;
# hub-b single-homed on n1 with a chain p4 - p5 behind it.
CENTERS: tuple[tuple[str, str, str], ...] = (
    ("n1", "national", "north"),
    ("n2", "national", "south"),
    ("hub-a", "regional", "central"),
    ("hub-b", "regional", "north"),
    ("p1", "provincial", "central"),
    ("p2", "provincial", "central"),
    ("p3", "provincial", "central"),
    ("p4", "provincial", "north"),
    ("p5", "provincial", "north"),
)
LINKS: tuple[tuple[str, str, float], ...] = (
    ("n1", "n2", 400),
    ("n1", "hub-a", 200),
    ("n2", "hub-a", 200),
    ("n1", "hub-b", 100),
    ("hub-a", "p1", 40),
    ("p1", "p2", 10),
    ("p2", "p3", 10),
    ("p3", "hub-a", 40),
    ("hub-b", "p4", 20),
    ("p4", "p5", 10),
)
INTERVAL = 5.0
WINDOW = 3 * INTERVAL


def sample_registry(
    centers: Iterable[tuple[str, str, str]] = CENTERS,
    links: Iterable[tuple[str, str, float]] = LINKS,
) -> Registry:
    """A registry of the given centers (id, tier, region) and links (a, b, Gbit/s)."""
    return parse_registry(
        {
            "centers": [
                {
                    "id": center,
                    "name": center.upper(),
                    "tier": tier,
                    "region": region,
                    "location": {"lat": 16.0, "lon": 107.0},
                }
                for center, tier, region in centers
            ],
            "links": [
                {"a": a, "b": b, "bandwidth_gbps": gbps, "est_rtt_ms": 2.0} for a, b, gbps in links
            ],
        },
        "sample",
    )


class Feed:
    """Plays the agents of a federation: births, heartbeats, probes; remembers seqs."""

    def __init__(self, registry: Registry, settings: EngineSettings | None = None) -> None:
        self.registry = registry
        self.engine = StatusEngine(registry, settings or EngineSettings(), started_at=0.0)
        self.now = 0.0
        self.sessions: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.cut: set[frozenset[str]] = set()
        """Links whose probes fail in both directions."""
        self.one_way: set[tuple[str, str]] = set()
        """(source, target): source's probe of target fails (asymmetric link)."""
        self.silent: set[str] = set()
        """Centers whose agents publish nothing."""
        self.unreachable: set[str] = set()
        """Centers nobody's probe reaches."""
        self.rtt_s: dict[frozenset[str], float] = {}

    def send(self, source: str, kind: MessageKind, payload: object) -> RejectReason | None:
        """Deliver one message at the current time."""
        assert isinstance(payload, CenterState | Heartbeat | Capacity | LinkReport)
        return self.engine.ingest(Message(kind, source, payload), self.now)

    def next_seq(self, center: str) -> int:
        """The center's next seq (one counter across kinds)."""
        self.seq[center] = self.seq.get(center, 0) + 1
        return self.seq[center]

    def birth(self, center: str, session: int | None = None) -> RejectReason | None:
        """The center's agent starts (a new session unless given) and announces itself."""
        session = session if session is not None else self.sessions.get(center, 0) + 1
        self.sessions[center] = session
        self.seq[center] = 0
        state = CenterState(
            center=center,
            status="online",
            session=session,
            ts=self.now,
            heartbeat_interval_s=INTERVAL,
            agent="dcmon-agent/test",
        )
        return self.send(center, MessageKind.STATE, state)

    def will(self, center: str, session: int | None = None, ts: float | None = None) -> None:
        """The broker delivers the center's will (``lost``)."""
        state = CenterState(
            center=center,
            status="offline",
            session=session if session is not None else self.sessions[center],
            ts=self.now if ts is None else ts,
            reason="lost",
        )
        self.send(center, MessageKind.STATE, state)

    def probes(self, center: str) -> tuple[Probe, ...]:
        """What the center's probes of its neighbours find now."""
        found = []
        for peer in self.registry.neighbours(center):
            fails = (
                frozenset((center, peer)) in self.cut
                or (center, peer) in self.one_way
                or peer in self.unreachable
            )
            rtt = self.rtt_s.get(frozenset((center, peer)), 0.002)
            found.append(
                Probe(peer=peer, reachable=False, loss_ratio=1.0)
                if fails
                else Probe(peer=peer, reachable=True, rtt_s=rtt, loss_ratio=0.0)
            )
        return tuple(found)

    def round(self) -> None:
        """Every agent that is not silent sends a heartbeat, its probes and its capacity."""
        for center in self.registry.center_ids():
            if center in self.silent:
                continue
            if center not in self.sessions:
                self.birth(center)
            session = self.sessions[center]
            self.send(
                center,
                MessageKind.HEARTBEAT,
                Heartbeat(session=session, seq=self.next_seq(center), ts=self.now),
            )
            self.send(
                center,
                MessageKind.LINKS,
                LinkReport(
                    session=session,
                    seq=self.next_seq(center),
                    ts=self.now,
                    probes=self.probes(center),
                ),
            )
            self.send(
                center,
                MessageKind.CAPACITY,
                Capacity(
                    session=session,
                    seq=self.next_seq(center),
                    ts=self.now,
                    gpus=Resource(total=8, available=4),
                    cpu_cores=Resource(total=100, available=60),
                ),
            )

    def run(self, seconds: float, step: float = INTERVAL) -> Snapshot:
        """Advance time by ``seconds`` in rounds of ``step``; return the evaluated snapshot."""
        end = self.now + seconds
        while self.now + step <= end + 1e-9:
            self.now += step
            self.round()
        self.now = end
        return self.engine.evaluate(self.now)

    def settle(self) -> Snapshot:
        """Run past the start-up grace period."""
        return self.run(WINDOW + INTERVAL)

    def status(self) -> dict[str, Status]:
        """Every center's status after evaluating now."""
        snapshot = self.engine.evaluate(self.now)
        return {center: view.status for center, view in snapshot.centers.items()}

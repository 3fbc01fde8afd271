"""Test parts for the aggregator: a live aggregator in a thread, small registries, publishers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import aiomqtt
import msgspec
import yaml
from aiohttp import web

from agents.lifecycle import cancel_and_wait
from agents.protocol import (
    Capacity,
    CenterState,
    Heartbeat,
    LinkReport,
    MessageKind,
    Probe,
    Resource,
    center_topic,
    encode,
)
from monitor.config import AggregatorConfig
from monitor.registry import Registry, load_registry
from monitor.service.aggregator import Aggregator
from monitor.service.serve import serve

# A triangle of two national centers and a province, plus a province hanging off ndc-b alone.
SMALL_TOPOLOGY: dict[str, Any] = {
    "centers": [
        {
            "id": cid,
            "name": cid.upper(),
            "tier": tier,
            "region": region,
            "province": "P",
            "location": {"lat": 10.0 + i, "lon": 105.0 + i},
        }
        for i, (cid, tier, region) in enumerate(
            [
                ("ndc-a", "national", "north"),
                ("ndc-b", "national", "south"),
                ("prov-c", "provincial", "central"),
                ("prov-d", "provincial", "south"),
            ]
        )
    ],
    "links": [
        {"a": "ndc-a", "b": "ndc-b", "bandwidth_gbps": 100},
        {"a": "ndc-a", "b": "prov-c", "bandwidth_gbps": 10},
        {"a": "ndc-b", "b": "prov-c", "bandwidth_gbps": 10},
        {"a": "ndc-b", "b": "prov-d", "bandwidth_gbps": 10},
    ],
}
NEIGHBOURS = {
    "ndc-a": ("ndc-b", "prov-c"),
    "ndc-b": ("ndc-a", "prov-c", "prov-d"),
    "prov-c": ("ndc-a", "ndc-b"),
    "prov-d": ("ndc-b",),
}
HEARTBEAT_S = 0.2


def write_small_topology(directory: Path) -> Path:
    """Write the small registry to ``directory/topology.yaml``."""
    path = directory / "topology.yaml"
    path.write_text(yaml.safe_dump(SMALL_TOPOLOGY), encoding="utf-8")
    return path


def aggregator_config(broker_url: str, topology: Path, **overrides: Any) -> AggregatorConfig:
    """An aggregator configuration with short windows for tests (HTTP on port 0)."""
    settings: dict[str, Any] = {
        "broker": broker_url,
        "topology": str(topology),
        "listen": "127.0.0.1:0",
        "default_heartbeat_interval_s": HEARTBEAT_S,
        "probe_fresh_s": 5.0,
        **overrides,
    }
    return AggregatorConfig(**settings)


class LiveAggregator:
    """An aggregator with its HTTP API running in a thread of its own (its own event loop)."""

    def __init__(
        self,
        config: AggregatorConfig,
        registry: Registry | None = None,
        *,
        demo_app: web.Application | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or load_registry(config.topology)
        self.demo_app = demo_app
        self.aggregator: Aggregator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-aggregator", daemon=True)

    def __enter__(self) -> LiveAggregator:
        self._thread.start()
        if not self._started.wait(30):
            raise TimeoutError("the aggregator did not start listening")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.aggregator = Aggregator(self.config, self.registry)
        ready = asyncio.Event()
        self._task = asyncio.create_task(
            serve(
                self.config,
                self.registry,
                ready=ready,
                aggregator=self.aggregator,
                demo_app=self.demo_app,
            )
        )
        await ready.wait()
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        assert self.aggregator is not None
        assert self.aggregator.bound_port is not None
        return f"http://127.0.0.1:{self.aggregator.bound_port}"

    def get(self, path: str) -> tuple[int, bytes]:
        """GET ``path``; returns status and body (errors included)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> Any:
        """GET ``path`` and parse JSON (any status)."""
        return json.loads(self.get(path)[1])

    def statuses(self) -> dict[str, str]:
        """Center id → status, from the API."""
        return {c["id"]: c["status"] for c in self.json("/api/v1/centers")["centers"]}

    def metric(self, line_prefix: str) -> float | None:
        """The value of the first exposition line starting with ``line_prefix``."""
        for line in self.get("/metrics")[1].decode().splitlines():
            if line.startswith(line_prefix + " "):
                return float(line.rsplit(" ", 1)[1])
        return None


class Centers:
    """Agents of several centers on one MQTT connection: births, heartbeats, probe reports."""

    def __init__(
        self,
        client: aiomqtt.Client,
        centers: tuple[str, ...],
        neighbours: Mapping[str, tuple[str, ...]] = NEIGHBOURS,
    ) -> None:
        self.client = client
        self.centers = centers
        self.neighbours = neighbours
        self.session = int(time.time() * 1000)
        self.seq = 0
        self.beating: set[str] = set(centers)
        self.unreachable: set[tuple[str, str]] = set()
        self._task: asyncio.Task[None] | None = None

    async def birth(self, center: str) -> None:
        """Publish the retained birth of ``center``."""
        payload = CenterState(
            center=center,
            status="online",
            session=self.session,
            ts=time.time(),
            heartbeat_interval_s=HEARTBEAT_S,
        )
        await self.client.publish(
            center_topic(center, MessageKind.STATE), encode(payload), qos=1, retain=True
        )

    async def offline(self, center: str) -> None:
        """Publish ``center``'s will (as the broker would) and stop its heartbeats."""
        self.beating.discard(center)
        payload = CenterState(
            center=center, status="offline", session=self.session, ts=time.time(), reason="lost"
        )
        await self.client.publish(
            center_topic(center, MessageKind.STATE), encode(payload), qos=1, retain=True
        )

    async def fail(self, center: str) -> None:
        """``center`` fails whole: its neighbours' probes of it fail, then its will arrives
        (in that order, so it is never seen silent but reachable, i.e. stale)."""
        for peer in self.neighbours[center]:
            self.unreachable.add((peer, center))
            await self.report_links(peer)
        await self.offline(center)

    async def report_links(self, center: str) -> None:
        """Publish ``center``'s probe report about each registry neighbour."""
        self.seq += 1
        probes = tuple(
            Probe(peer=peer, reachable=False, loss_ratio=1.0)
            if (center, peer) in self.unreachable
            else Probe(peer=peer, reachable=True, rtt_s=0.004, loss_ratio=0.0)
            for peer in self.neighbours[center]
        )
        payload = LinkReport(session=self.session, seq=self.seq, ts=time.time(), probes=probes)
        await self.client.publish(
            center_topic(center, MessageKind.LINKS), encode(payload), qos=1, retain=True
        )

    async def report_capacity(self, center: str, **resources: tuple[float, float]) -> None:
        """Publish ``center``'s capacity: resource name → (total, available)."""
        self.seq += 1
        figures = {name: Resource(total=t, available=a) for name, (t, a) in resources.items()}
        payload = msgspec.convert(
            {"session": self.session, "seq": self.seq, "ts": time.time(), **figures},
            Capacity,
            from_attributes=True,
        )
        await self.client.publish(
            center_topic(center, MessageKind.CAPACITY), encode(payload), qos=1, retain=True
        )

    async def heartbeat(self, center: str) -> None:
        """One heartbeat of ``center``."""
        self.seq += 1
        payload = Heartbeat(session=self.session, seq=self.seq, ts=time.time())
        await self.client.publish(center_topic(center, MessageKind.HEARTBEAT), encode(payload))

    async def start(self) -> None:
        """Birth, probe report and a heartbeat loop for every center."""
        for center in self.centers:
            await self.birth(center)
            await self.report_links(center)
        self._task = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            for center in list(self.beating):
                await self.heartbeat(center)
            await asyncio.sleep(HEARTBEAT_S / 2)

    async def stop(self) -> None:
        """Stop heartbeats."""
        if self._task is not None:
            # A plain cancel can be swallowed by aiomqtt's publish on Python 3.11: insist.
            await cancel_and_wait({self._task})


@contextlib.asynccontextmanager
async def running_centers(
    port: int,
    centers: tuple[str, ...] = tuple(NEIGHBOURS),
    neighbours: Mapping[str, tuple[str, ...]] = NEIGHBOURS,
) -> AsyncIterator[Centers]:
    """Publish as the agents of ``centers`` (probing ``neighbours``) until the context ends."""
    async with aiomqtt.Client("127.0.0.1", port) as client:
        agents = Centers(client, centers, neighbours)
        await agents.start()
        try:
            yield agents
        finally:
            await agents.stop()


async def eventually(predicate: Any, timeout_s: float = 20.0, interval_s: float = 0.1) -> None:
    """Await until ``predicate()`` (run in a thread: it may do blocking HTTP) is truthy."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = await asyncio.to_thread(predicate)
        if last:
            return
        await asyncio.sleep(interval_s)
    raise TimeoutError(f"condition not met within {timeout_s} s (last value {last!r})")

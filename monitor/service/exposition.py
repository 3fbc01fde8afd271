"""Fast text exposition of the snapshot metrics, rendered on the event loop in small slices.

prometheus-client's ``generate_latest`` builds a ``Sample`` object per series and takes seconds
for 10,000 centers; this renderer writes the same bytes (same families, same order, same number
formatting, label names sorted) from the same sample functions of ``monitor.service.metrics``,
reading each family's samples by its name.

The exposition is family-major (every center's ``dcmon_center_up``, then every center's
``dcmon_center_status`` …), so the cache is too: the entities of each group (centers, links,
probe pairs, in a fixed registry order) are cut into chunks, and each chunk keeps the views it
was rendered from and one UTF-8 blob per family. A chunk whose views are the very objects of the
previous snapshot (the engine reuses unchanged views) costs one tuple comparison; in a chunk that
changed, only the families whose samples changed are rendered again. The cache therefore holds
about one copy of the exposition, as bytes, and no per-series strings.

``ExpositionCache`` renders once per snapshot generation as a coroutine that yields to the event
loop every few milliseconds (no thread, so no GIL held against ingest), and hands a scrape the
list of blobs to stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from monitor.registry import Registry
from monitor.service.metrics import (
    CENTER_FAMILIES,
    FEDERATION_FAMILIES,
    LINK_FAMILIES,
    METRIC_GROUPINGS,
    PROBE_FAMILIES,
    Family,
    FamilySamples,
    Sample,
    center_samples,
    federation_samples,
    link_samples,
    probe_pairs,
    probe_samples,
)
from monitor.status.capacity import CapacityTally
from monitor.status.model import Snapshot

logger = logging.getLogger(__name__)

CHUNK: Final = 32
"""Entities per cached chunk: small enough that rendering one from scratch takes a few ms."""
SLICE_S: Final = 0.004
"""The renderer gives the event loop a turn after about this much work."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def go_float(value: float) -> str:
    """A sample value formatted as prometheus-client does (Go's shortest form)."""
    if value == 1.0:
        return "1.0"
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(float(value))
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


class _FamilyFormat:
    """Formats the sample lines of one family exactly as ``generate_latest`` does."""

    def __init__(self, family: Family) -> None:
        self.name = family.name
        order = sorted(range(len(family.labels)), key=lambda i: family.labels[i])
        self.order: tuple[int, ...] | None = None if order == sorted(order) else tuple(order)
        pairs = ",".join(f'{family.labels[i]}="%s"' for i in order)
        self.template = f"{family.name}{{{pairs}}} %s\n" if pairs else f"{family.name} %s\n"
        doc = family.doc.replace("\\", r"\\").replace("\n", r"\n")
        self.header = f"# HELP {family.name} {doc}\n# TYPE {family.name} gauge\n".encode()

    def lines(self, samples: Sequence[Sample], out: list[str]) -> None:
        """Append the lines of ``samples`` to ``out``."""
        template, order = self.template, self.order
        for labels, value in samples:
            ordered = labels if order is None else tuple(labels[i] for i in order)
            out.append(template % (*map(_escape, ordered), go_float(value)))


@dataclass(slots=True)
class _Chunk(Generic[V]):
    """A run of entities: the views it was rendered from and one blob per family name."""

    views: tuple[V | None, ...]
    blobs: dict[str, bytes]


@dataclass(slots=True)
class _Group(Generic[K, V]):
    """Centers, links or probe pairs: a fixed list of entities and their families.

    An entity the snapshot holds no view of (a probe pair its source has not reported yet, a link
    before the first evaluation) has no samples.
    """

    formats: tuple[_FamilyFormat, ...]
    keys: tuple[K, ...]
    views_of: Callable[[Snapshot], Mapping[K, V]]
    samples: Callable[[int, V], FamilySamples]
    """The samples of the entity at this position of ``keys``, given its view."""
    chunks: list[_Chunk[V] | None] = field(default_factory=list)
    absent: FamilySamples = field(init=False)
    """The samples of an entity without a view: none in every family."""

    def __post_init__(self) -> None:
        self.chunks = [None] * math.ceil(len(self.keys) / CHUNK)
        self.absent = {fmt.name: () for fmt in self.formats}

    def render(self, snapshot: Snapshot, parts: list[bytes]) -> Iterator[None]:
        """Bring every chunk up to ``snapshot``, yielding after each rendered chunk; then append
        the group's families (header and blobs) to ``parts``."""
        views_by_key = self.views_of(snapshot)
        for number, chunk in enumerate(self.chunks):
            start = number * CHUNK
            views = tuple(map(views_by_key.get, self.keys[start : start + CHUNK]))
            if chunk is not None and chunk.views == views:
                chunk.views = views  # equal: keep the newest objects, so identity hits next time
                continue
            self.chunks[number] = self._render_chunk(start, views, chunk)
            yield
        for fmt in self.formats:
            parts.append(fmt.header)
            name = fmt.name
            parts.extend(
                blob for chunk in self.chunks if chunk is not None and (blob := chunk.blobs[name])
            )

    def _samples_at(self, position: int, view: V | None) -> FamilySamples:
        return self.absent if view is None else self.samples(position, view)

    def _render_chunk(
        self, start: int, views: tuple[V | None, ...], old: _Chunk[V] | None
    ) -> _Chunk[V]:
        fresh: dict[int, FamilySamples] = {}
        if old is None:
            dirty = self.formats
        else:
            changed: set[str] = set()
            for i, (view, before) in enumerate(zip(views, old.views, strict=True)):
                if view is before:
                    continue
                now = fresh[i] = self._samples_at(start + i, view)
                was = self._samples_at(start + i, before)
                changed.update(name for name, samples in now.items() if samples != was[name])
            dirty = tuple(fmt for fmt in self.formats if fmt.name in changed)
        blobs = dict(old.blobs) if old is not None else dict.fromkeys(self.absent, b"")
        if dirty:
            columns: list[list[str]] = [[] for _ in dirty]
            for i, view in enumerate(views):
                by_name = fresh[i] if i in fresh else self._samples_at(start + i, view)
                for column, fmt in zip(columns, dirty, strict=True):
                    fmt.lines(by_name[fmt.name], column)
            for column, fmt in zip(columns, dirty, strict=True):
                blobs[fmt.name] = "".join(column).encode()
        return _Chunk(views, blobs)


class SnapshotExposition:
    """Renders the snapshot families of ``monitor.service.metrics`` to Prometheus text.

    One family at a time.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        centers = registry.centers
        links = registry.links
        self._groups = (
            _Group(
                tuple(map(_FamilyFormat, CENTER_FAMILIES)),
                tuple(c.id for c in centers),
                lambda s: s.centers,
                lambda i, view: center_samples(centers[i], view),
            ),
            _Group(
                tuple(map(_FamilyFormat, LINK_FAMILIES)),
                tuple(lk.key for lk in links),
                lambda s: s.links,
                lambda i, view: link_samples(links[i], view),
            ),
            _Group(
                tuple(map(_FamilyFormat, PROBE_FAMILIES)),
                probe_pairs(registry),
                lambda s: s.probes,
                lambda _i, view: probe_samples(view),
            ),
        )
        self._federation_formats = tuple(map(_FamilyFormat, FEDERATION_FAMILIES))
        self.longest_slice_s = 0.0
        """The longest the event loop waited for ``render_sliced`` (for benchmarks)."""

    def steps(self, snapshot: Snapshot, parts: list[bytes]) -> Iterator[None]:
        """Render ``snapshot`` into ``parts`` (blobs to concatenate), yielding between chunks."""
        for group in self._groups:
            yield from group.render(snapshot, parts)
        capacity = CapacityTally(METRIC_GROUPINGS)
        centers = self._registry.centers
        views = snapshot.centers
        for start in range(0, len(centers), CHUNK * 32):
            for spec in centers[start : start + CHUNK * 32]:
                capacity.add(spec, views[spec.id])
            yield
        samples = federation_samples(snapshot, self._registry, capacity.totals())
        for fmt in self._federation_formats:
            lines: list[str] = []
            fmt.lines(samples[fmt.name], lines)
            parts.append(fmt.header)
            parts.append("".join(lines).encode())

    def render(self, snapshot: Snapshot) -> bytes:
        """The exposition text of ``snapshot`` (UTF-8), rendered in one go."""
        parts: list[bytes] = []
        for _ in self.steps(snapshot, parts):
            pass
        return b"".join(parts)

    async def render_sliced(self, snapshot: Snapshot) -> list[bytes]:
        """The exposition of ``snapshot`` as blobs, giving the event loop a turn every few ms."""
        parts: list[bytes] = []
        started = time.perf_counter()
        for _ in self.steps(snapshot, parts):
            now = time.perf_counter()
            if now - started >= SLICE_S:
                self.longest_slice_s = max(self.longest_slice_s, now - started)
                await asyncio.sleep(0)
                started = time.perf_counter()
        self.longest_slice_s = max(self.longest_slice_s, time.perf_counter() - started)
        return parts


class ExpositionCache:
    """The snapshot exposition, rendered once per snapshot generation on the event loop.

    Renders are serialised; a scrape awaits the render of the newest generation it has seen
    (usually finished already, because ``refresh`` starts one right after every evaluation).
    """

    def __init__(self, registry: Registry, snapshot: Callable[[], Snapshot]) -> None:
        self._exposition = SnapshotExposition(registry)
        self._snapshot = snapshot
        self._parts: list[bytes] = []
        self._generation = -1
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[list[bytes]] | None = None
        self.last_render_s = 0.0
        self._rendered_at = 0.0

    @property
    def longest_slice_s(self) -> float:
        """The longest the event loop waited for a piece of rendering."""
        return self._exposition.longest_slice_s

    def reindex(self, registry: Registry) -> None:
        """The registry changed: render from it from now on (call with the snapshot change)."""
        self._exposition = SnapshotExposition(registry)
        self._generation = -1

    def refresh(self) -> None:
        """Start rendering the current snapshot in the background (called after evaluations)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a synchronous caller): the next scrape renders
            return
        if self._pending is None or self._pending.done():
            # Background renders take at most half of the loop's time (a scrape still gets the
            # newest generation: it renders whatever is missing itself).
            delay = self._rendered_at + self.last_render_s - time.perf_counter()
            self._pending = loop.create_task(
                self._render_after(max(0.0, delay)), name="dcmon-metrics-render"
            )

    async def _render_after(self, delay: float) -> list[bytes]:
        if delay > 0:
            await asyncio.sleep(delay)
        return await self.parts()

    async def parts(self) -> list[bytes]:
        """The exposition of the current snapshot as blobs, rendering it if not cached yet."""
        snapshot = self._snapshot()
        if snapshot.generation == self._generation:
            return self._parts
        async with self._lock:
            while (snapshot := self._snapshot()).generation != self._generation:
                started = time.perf_counter()
                exposition = self._exposition
                parts = await exposition.render_sliced(snapshot)
                if exposition is not self._exposition:
                    continue  # the registry changed meanwhile: render the new one
                self._parts = parts
                self._generation = snapshot.generation
                self._rendered_at = time.perf_counter()
                self.last_render_s = self._rendered_at - started
                logger.debug(
                    "rendered metrics of generation %d in %.1f ms",
                    snapshot.generation,
                    self.last_render_s * 1000,
                )
                break
            return self._parts

    async def text(self) -> bytes:
        """The exposition of the current snapshot."""
        return b"".join(await self.parts())

    async def close(self) -> None:
        """Stop a render in progress."""
        if self._pending is not None:
            self._pending.cancel()
            await asyncio.gather(self._pending, return_exceptions=True)

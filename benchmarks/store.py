"""The state store's cost to the event loop, and the size of a year of time per status.

* **Loop stall:** a 10,000-center federation's snapshots go to a real store (an SQLite file):
  one to seed it, then bursts of 1,000 center transitions (with 1,000 link changes). The event
  loop runs 1 ms ticks throughout; the longest gap between ticks while the store's thread
  writes a burst is the stall, against the longest gap of the same ticks on an idle loop in the
  same run (baseline); what lies beyond that baseline is the stall the store causes. Target:
  <= 5 ms. A full garbage collection of the 10,000-center heap
  stops every thread for ~12 ms whatever triggered it, so bursts during which one ran are
  reported apart. Also the time ``record`` itself takes on the loop.
* **Size:** a year of time per center per status per UTC day for 1,000 centers, accounted by
  the store's own ``StatusClock`` and written by its own ``add_status_time``: every center
  connected, 5 % of center-days with a one-hour outage, 1 % with a maintenance window, and two
  blind spells of the monitor; the file's bytes (after VACUUM) per center per year, and the
  same for a federation where nothing ever fails (one row per center per day).

Run: ``python -m benchmarks.store [--bursts 10] [--centers 10000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.service.store import Store
from monitor.service.store.schema import migrate
from monitor.service.store.status_time import DAY_S, StatusClock
from monitor.service.store.writer import add_status_time
from monitor.status.model import CenterView, LinkEvent, Snapshot, Status, StatusEvent

TARGET_STALL_S = 0.005


def _snapshot(
    generation: int,
    at: float,
    statuses: Mapping[str, Status],
    transitions: tuple[StatusEvent, ...] = (),
    links: tuple[LinkEvent, ...] = (),
    *,
    blind: bool = False,
) -> Snapshot:
    return Snapshot(
        generation=generation,
        evaluated_at=at,
        blind=blind,
        centers={
            c: CenterView(c, s, live=True, never_seen=False, why="", root_cause=None)
            for c, s in statuses.items()
        },
        links={},
        probes={},
        core=frozenset(),
        partitions=1,
        connected_ratio={},
        status_counts={},
        spof=(),
        transitions=transitions,
        link_transitions=links,
    )


class FullCollections:
    """Counts the interpreter's full (generation 2) garbage collections and their longest pause:
    they stop every thread, and at 10,000 centers one takes ~12 ms whoever triggers it."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0.0
        self._started = 0.0
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: Mapping[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._started)


FULL_GC = FullCollections()


async def _stall_while(work: asyncio.Future[Any]) -> float:
    """Longest gap between 1 ms ticks of the event loop until ``work`` is done."""
    longest = 0.0
    last = time.perf_counter()
    while not work.done():
        await asyncio.sleep(0.001)
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    return longest


async def _stall_and_collections(work: asyncio.Future[Any]) -> tuple[float, bool]:
    """The longest gap while ``work`` runs, and whether a full collection ran meanwhile."""
    before = FULL_GC.count
    stall = await _stall_while(work)
    return stall, FULL_GC.count != before


async def _settled(store: Store) -> None:
    await store.read(lambda db: None, settle=True)


async def measure_stall(centers: int, bursts: int, directory: Path) -> None:
    """Print the loop's longest stall while the store writes bursts of 1,000 transitions."""
    ids = [f"c{i:05d}" for i in range(centers)]
    statuses: dict[str, Status] = dict.fromkeys(ids, "connected")
    store = Store(str(directory / "stall.db"))
    await store.start()
    seq = 0
    now = time.time()
    store.record(_snapshot(1, now, statuses))
    await store.read(lambda db: None)
    idle_gaps = [await _stall_while(asyncio.ensure_future(asyncio.sleep(0.5))) for _ in range(3)]
    stalls, plain, enqueue, written = [], [], [], []
    for burst in range(bursts):
        now = time.time()
        changed = random.Random(burst).sample(ids, 1000)
        events = []
        for center in changed:
            seq += 1
            new: Status = "down" if statuses[center] == "connected" else "connected"
            events.append(StatusEvent(seq, now, center, statuses[center], new, why="a burst"))
            statuses[center] = new
        links = []
        for i, center in enumerate(changed):
            seq += 1
            links.append(LinkEvent(seq, now, center, ids[(i + 1) % centers], "up", "down"))
        snapshot = _snapshot(burst + 2, now, statuses, tuple(events), tuple(links))
        started = time.perf_counter()
        store.record(snapshot)
        enqueue.append(time.perf_counter() - started)
        work = asyncio.ensure_future(store.read(lambda db: None))
        stall, collected = await _stall_and_collections(work)
        stalls.append(stall)
        if not collected:
            plain.append(stall)
        written.append(time.perf_counter() - started)
        await asyncio.sleep(0.2)
    settles = []
    for _ in range(8):
        await asyncio.sleep(0.2)
        stall, collected = await _stall_and_collections(asyncio.ensure_future(_settled(store)))
        if not collected:
            settles.append(stall)
    await store.close()
    idle = max(idle_gaps)
    worst = max(stalls)
    worst_plain = max(plain, default=float("nan"))
    caused = max(0.0, worst_plain - idle)
    verdict = "OK" if caused <= TARGET_STALL_S else "MISSED"
    print(
        f"store loop stall, {centers} centers, {bursts} bursts of 1,000 center transitions "
        f"+ 1,000 link changes:\n"
        f"  idle loop, longest 1 ms tick gap (baseline)   {idle * 1000:6.2f} ms\n"
        f"  while the store writes a burst: longest gap   {worst_plain * 1000:6.2f} ms "
        f"= {worst_plain / idle:.2f}x idle (median {statistics.median(stalls) * 1000:.2f} ms, "
        f"{len(plain)} of {len(stalls)} bursts)\n"
        f"  stall caused by the store (beyond idle)       {caused * 1000:6.2f} ms; target "
        f"{TARGET_STALL_S * 1000:.0f} ms -> {verdict}\n"
        f"  ... in a burst during which a full garbage collection ran: {worst * 1000:.2f} ms "
        f"(the process's {FULL_GC.count} full collections paused every thread up to "
        f"{FULL_GC.longest * 1000:.1f} ms each, store or not)\n"
        f"  while it credits every center's time (every 5 minutes, and before a report): "
        f"longest {max(settles, default=float('nan')) * 1000:.2f} ms "
        f"= {max(settles, default=float('nan')) / idle:.2f}x idle, median "
        f"{statistics.median(settles) * 1000 if settles else float('nan'):.2f} ms "
        f"({len(settles)} without a full collection)\n"
        f"  record() on the loop                          {max(enqueue) * 1e6:6.1f} us (longest)\n"
        f"  burst written by the store's thread           "
        f"{statistics.median(written) * 1000:6.1f} ms (median)"
    )


def _year_of_status_time(centers: int, failures: bool) -> dict[tuple[str, int, str], float]:
    """A year of credits as the store's clock accounts them."""
    rng = random.Random(7)
    ids = [f"province-{i:05d}" for i in range(centers)]
    start = (time.time() // DAY_S - 366) * DAY_S
    clock = StatusClock()
    statuses: dict[str, Status] = dict.fromkeys(ids, "connected")
    clock.observe(_snapshot(1, start, statuses))
    seq = 0
    blind_days = {90, 250}
    for day in range(365):
        midnight = start + day * DAY_S
        changes: list[tuple[float, str, Status]] = []
        if failures:
            for center in ids:
                roll = rng.random()
                at = midnight + rng.uniform(0, DAY_S - 3 * 3600)
                if roll < 0.05:
                    changes += [(at, center, "down"), (at + 3600, center, "connected")]
                elif roll < 0.06:
                    changes += [(at, center, "maintenance"), (at + 7200, center, "connected")]
        for at, center, status in sorted(changes):
            seq += 1
            event = StatusEvent(seq, at, center, statuses[center], status, why="")
            statuses[center] = status
            clock.observe(_snapshot(seq, at, {}, (event,)))
        if failures and day in blind_days:
            at = midnight + 12 * 3600
            for blind, status in ((True, "unknown"), (False, "connected")):
                events = []
                for center in ids:
                    seq += 1
                    events.append(StatusEvent(seq, at, center, statuses[center], status, why=""))
                    statuses[center] = status
                clock.observe(_snapshot(seq, at, {}, tuple(events), blind=blind))
                at += 300
        clock.settle(midnight + DAY_S)
    return clock.take()


def measure_size(centers: int, directory: Path) -> None:
    """Print the bytes per center per year of the time per status."""
    for failures in (True, False):
        path = directory / f"year-{failures}.db"
        owed = _year_of_status_time(centers, failures)
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            migrate(db)
            names = sorted({center for center, _, _ in owed})
            db.executemany("INSERT INTO centers (id) VALUES (?)", [(c,) for c in names])
            numbers = {c: int(n) for n, c in db.execute("SELECT number, id FROM centers")}
            db.execute("BEGIN")
            add_status_time(db, numbers, owed)
            db.execute("COMMIT")
            rows = db.execute("SELECT count(*) FROM status_time").fetchone()[0]
            empty = migrate_size(directory)
            db.execute("VACUUM")
        size = path.stat().st_size - empty
        per_center = size / centers
        label = "with failures" if failures else "never failing"
        print(
            f"time per status, a year of {centers} centers {label}: {rows} rows "
            f"({rows / centers / 365:.2f} per center-day), {size / 2**20:.2f} MiB -> "
            f"{per_center / 1024:.1f} KiB per center per year; 10,000 centers: "
            f"{per_center * 10_000 / 2**20:.0f} MiB per year"
        )


def migrate_size(directory: Path) -> int:
    """Bytes of an empty store file (the schema alone)."""
    path = directory / "empty.db"
    if not path.exists():
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
            migrate(db)
            db.execute("VACUUM")
    return path.stat().st_size


def main() -> None:
    """Run both measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--centers", type=int, default=10_000)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--year-centers", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dcmon-store-bench-") as name:
        directory = Path(name)
        asyncio.run(measure_stall(args.centers, args.bursts, directory))
        measure_size(args.year_centers, directory)


if __name__ == "__main__":
    main()

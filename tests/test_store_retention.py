"""Retention: the store prunes what is older than configured, never an open incident (a real
SQLite file written through the store)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from monitor.service.store import Retention, Store
from monitor.service.store.status_time import DAY_S, day_of
from tests.store_history import History


def _counts(db: Any) -> dict[str, Any]:
    return {
        "days": sorted(d for (d,) in db.execute("SELECT DISTINCT day FROM status_time")),
        "incidents": sorted(i for (i,) in db.execute("SELECT id FROM incidents")),
        "transitions": db.execute("SELECT count(*) FROM center_transitions").fetchone()[0],
    }


async def test_history_older_than_its_retention_is_pruned_and_open_incidents_are_kept(
    tmp_path: Path,
) -> None:
    """With 5 days for history and 2 for transitions: time per status and a resolved incident
    from 10 days ago go, those from 3 days ago stay; transitions from 3 days ago go, from 1 day
    ago stay; an incident opened 10 days ago and still open stays."""
    path = tmp_path / "state.db"
    now = time.time()
    old, mid, recent = now - 10 * DAY_S, now - 3 * DAY_S, now - 1 * DAY_S
    history = History({"a": "connected", "b": "connected"}, old)
    still_open = history.open_incident(old, 1, "a", [("a", "down")])
    history.change(old + 60, b="down")
    history.resolve(old + 120, history.open_incident(old + 60, 2, "b", [("b", "down")]))
    history.change(mid, b="connected")
    history.resolve(mid + 60, history.open_incident(mid, 3, "b", [("b", "down")]))
    history.change(recent, b="down")
    store = Store(str(path))
    await store.start()
    for snapshot in history.snapshots:
        store.record(snapshot)
    before = await store.read(_counts, settle=True)
    await store.close()
    assert before["days"][0] == day_of(old)
    assert before["incidents"] == ["inc-1", "inc-2", "inc-3"]
    assert before["transitions"] == 3

    pruning = Store(str(path), Retention(history_days=5, transitions_days=2))
    restored = await pruning.start()
    after = await pruning.read(_counts)
    await pruning.close()
    assert [i.id for i in restored.open] == [still_open]
    assert after["days"][0] == day_of(now - 5 * DAY_S)  # the days in between had time too
    assert after["incidents"] == ["inc-1", "inc-3"]
    assert after["transitions"] == 1

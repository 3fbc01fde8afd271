"""Time per center per status per UTC day, as the store's clock accounts it (pure, no store)."""

from __future__ import annotations

from monitor.service.store.status_time import DAY_S, StatusClock, day_of
from tests.store_history import History

H = 3600.0
MIDNIGHT = 20_000 * DAY_S


def test_time_is_split_at_utc_midnight() -> None:
    """Down from 22:00 to 02:00 the next day is 2 hours on each day."""
    history = History({"a": "connected"}, MIDNIGHT)
    history.change(MIDNIGHT + 22 * H, a="down")
    history.change(MIDNIGHT + 26 * H, a="connected")
    clock = StatusClock()
    for snapshot in history.snapshots:
        clock.observe(snapshot)
    clock.settle(MIDNIGHT + 2 * DAY_S)
    day = day_of(MIDNIGHT)
    assert clock.take() == {
        ("a", day, "connected"): 22 * H,
        ("a", day, "down"): 2 * H,
        ("a", day + 1, "down"): 2 * H,
        ("a", day + 1, "connected"): 22 * H,
    }


def test_unknown_while_blind_is_blind_time_and_grace_after_it_is_unknown() -> None:
    """The monitor blind for an hour, then in grace for a minute: an hour of ``blind``, a minute
    of ``unknown``, not a second of ``down``."""
    history = History({"a": "connected"}, MIDNIGHT)
    history.change(MIDNIGHT + H, blind=True, a="unknown")
    history.change(MIDNIGHT + 2 * H, blind=False)  # back, in grace: still unknown
    history.change(MIDNIGHT + 2 * H + 60, a="connected")
    clock = StatusClock()
    for snapshot in history.snapshots:
        clock.observe(snapshot)
    clock.settle(MIDNIGHT + 3 * H)
    owed = {bucket: seconds for (_, _, bucket), seconds in clock.take().items()}
    assert owed == {"connected": 2 * H - 60, "blind": H, "unknown": 60}


def test_a_center_removed_by_a_reload_stops_accruing_time() -> None:
    """Once a snapshot no longer has a center, its time stops at that snapshot."""
    history = History({"a": "connected", "b": "connected"}, MIDNIGHT)
    clock = StatusClock()
    clock.observe(history.snapshots[0])
    del history.statuses["b"]
    history.change(MIDNIGHT + H, a="degraded")
    clock.observe(history.snapshots[-1])
    clock.settle(MIDNIGHT + 5 * H)
    owed = clock.take()
    assert owed[("b", day_of(MIDNIGHT), "connected")] == H
    assert owed[("a", day_of(MIDNIGHT), "degraded")] == 4 * H

"""``dcmon demo`` watching its own broker: killed, it is said once and restarted on the same
port, the federation comes back, the dead broker is reaped; dying again and again ends the demo
with one clear line. Simulated agents never log a line per reconnect attempt."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import psutil
import pytest

from tests.services import wait_until
from tests.test_demo import Demo, all_connected, start_demo, stop_demo

pytestmark = pytest.mark.integration

DIED = re.compile(r"dcmon demo: the broker \(\w+, pid (\d+)\) died \(killed by SIGKILL\)")


def gone(pid: int) -> bool:
    """No such process, not even a zombie waiting to be reaped."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_DEAD
    except psutil.NoSuchProcess:
        return True


def current_broker(demo: Demo) -> int:
    """The pid of the broker the demo runs now (the latest one it announced)."""
    found = re.findall(r"(?:broker|broker back:) \w+ \(pid (\d+)\)", demo.text())
    assert found, demo.text()
    return int(found[-1])


@pytest.mark.timeout(300)
def test_a_killed_broker_is_said_once_restarted_and_reaped(tmp_path: Path) -> None:
    """SIGKILL the demo's broker: one line says so, a new broker serves the same URL, every
    center is connected again, the old broker is no zombie, and no agent logged its retries."""
    demo = start_demo(tmp_path)
    try:
        wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
        first = current_broker(demo)
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: "broker back:" in demo.text(), timeout_s=60, interval_s=0.1)
        assert [int(pid) for pid in DIED.findall(demo.text())] == [first]
        assert current_broker(demo) != first
        wait_until(lambda: gone(first), timeout_s=10)
        wait_until(lambda: all_connected(demo.url), timeout_s=90, interval_s=0.25)
        assert demo.process.poll() is None, demo.text()
        assert "reconnecting in" not in demo.text()
        assert "Traceback" not in demo.text()
    finally:
        code = stop_demo(demo)
    assert code == 0, demo.text()


@pytest.mark.timeout(400)
def test_a_broker_that_keeps_dying_ends_the_demo_with_one_clear_line(tmp_path: Path) -> None:
    """Killed over and over within a few minutes, the broker is given up on: the demo says why
    and exits 1, leaving no process behind."""
    demo = start_demo(tmp_path)
    children = psutil.Process(demo.process.pid).children(recursive=True)
    try:
        killed: list[int] = []
        while demo.process.poll() is None and len(killed) < 6:
            pid = current_broker(demo)
            if pid not in killed:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            wait_until(
                lambda: demo.process.poll() is not None or current_broker(demo) not in killed,
                timeout_s=60,
                interval_s=0.1,
            )
        code = demo.process.wait(timeout=60)
    finally:
        if demo.process.poll() is None:
            stop_demo(demo)
    assert code == 1, demo.text()
    assert len(killed) == 4, demo.text()
    assert re.search(r"dcmon demo: the broker \(\w+, pid \d+\) died .*; stopping\n", demo.text())
    assert "Traceback" not in demo.text()
    for child in [*children, *(psutil.Process(p) for p in killed if psutil.pid_exists(p))]:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE

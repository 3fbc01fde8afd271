"""``dcmon demo`` end to end: a real subprocess with its broker, aggregator and simulated agents;
faults injected through the API and ``dcmon fault``; seen in ``dcmon status``, ``/metrics`` and
on the status page in headless Chromium; Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from monitor.status.palette import LINK_COLOURS, STATUS_COLOURS, STATUS_TEXT_COLOURS
from tests.colours import css_rgb
from tests.services import free_port, wait_until

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.integration


@dataclass
class Demo:
    """A running ``dcmon demo`` subprocess."""

    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def text(self) -> str:
        """Everything it printed so far."""
        return self.output.read_text(encoding="utf-8", errors="replace")

    def broker_pid(self) -> int:
        """The pid of the broker child, from the banner."""
        found = re.search(r"broker \w+ \(pid (\d+)\)", self.text())
        assert found, self.text()
        return int(found.group(1))


def start_demo(workdir: Path, env: dict[str, str] | None = None) -> Demo:
    """Start ``python -m monitor demo`` on a free port; wait until its HTTP API answers."""
    port = free_port()
    output = workdir / "demo.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "--log-level",
                "WARNING",
                "demo",
                "--listen",
                f"127.0.0.1:{port}",
            ],
            cwd=REPO,
            env={**ENV, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    demo = Demo(process, f"http://127.0.0.1:{port}", output)

    def answers() -> bool:
        assert process.poll() is None, demo.text()
        try:
            get_json(demo.url, "/readyz")
        except OSError:
            return False
        return True

    wait_until(answers, timeout_s=30)
    return demo


def stop_demo(demo: Demo) -> int:
    """SIGINT (Ctrl-C) the demo and reap it; returns its exit code."""
    if demo.process.poll() is None:
        demo.process.send_signal(signal.SIGINT)
        try:
            return demo.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.process.kill()
            demo.process.wait(timeout=10)
            raise
    return demo.process.returncode


def get_json(base: str, path: str) -> Any:
    """GET a JSON answer."""
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.loads(response.read())


def post_fault(base: str, fault: str, *args: str) -> Any:
    """Inject a fault through the demo's HTTP API."""
    request = urllib.request.Request(
        base + "/api/v1/demo/faults",
        data=json.dumps({"fault": fault, "args": list(args)}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def statuses(base: str) -> dict[str, str]:
    """Center id → status, from the API."""
    return {c["id"]: c["status"] for c in get_json(base, "/api/v1/centers")["centers"]}


def dcmon(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def all_connected(base: str) -> bool:
    """Every center connected (or degraded: reachable, one failure from losing the core)."""
    return all(s in ("connected", "degraded") for s in statuses(base).values())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module's tests (each heals what it broke)."""
    running = start_demo(tmp_path_factory.mktemp("demo"))
    try:
        yield running
    finally:
        stop_demo(running)


def test_demo_connects_every_sample_center_quickly(demo: Demo) -> None:
    """All 72 sample centers are connected soon after start (the demo promises 10 s)."""
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)
    assert len(statuses(demo.url)) == 72
    assert "status page" in demo.text()
    assert demo.url + "/" in demo.text()


def test_fault_through_the_api_shows_in_status_and_metrics(demo: Demo) -> None:
    """A center taken down through the API is `down` in dcmon status --json and in /metrics."""
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)
    post_fault(demo.url, "down", "hub-central")
    try:
        wait_until(lambda: statuses(demo.url)["hub-central"] == "down", timeout_s=20)
        result = dcmon("status", "--json", "--url", demo.url)
        assert result.returncode == 0, result.stderr
        centers = {c["id"]: c for c in json.loads(result.stdout)["centers"]}
        assert centers["hub-central"]["status"] == "down"
        assert centers["hub-central"]["why"]
        table = dcmon("status", "--url", demo.url)
        # Indented when grouped under its incident (once that is derived).
        assert re.search(r"^\s*down\s+hub-central\s", table.stdout, re.MULTILINE), table.stdout
        with urllib.request.urlopen(demo.url + "/metrics", timeout=10) as response:
            metrics = response.read().decode()
        assert re.search(
            r'dcmon_center_status\{center="hub-central",status="down"\} 1(\.0)?$',
            metrics,
            re.MULTILINE,
        )
        assert re.search(r'dcmon_center_connected\{center="hub-central"\} 0', metrics)
    finally:
        post_fault(demo.url, "heal")
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)


def test_dcmon_fault_stop_agent_makes_the_center_stale(demo: Demo) -> None:
    """`dcmon fault stop-agent` kills the agent, the center still works: it shows as stale."""
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)
    result = dcmon("fault", "stop-agent", "prov-da-nang", "--url", demo.url)
    assert result.returncode == 0, result.stderr
    assert "stop-agent prov-da-nang" in result.stdout
    try:
        wait_until(lambda: statuses(demo.url)["prov-da-nang"] == "stale", timeout_s=20)
        listing = json.loads(dcmon("status", "--json", "--url", demo.url).stdout)
        stale = next(c for c in listing["centers"] if c["id"] == "prov-da-nang")
        assert stale["status"] == "stale"
        assert stale["why"]
    finally:
        assert dcmon("fault", "heal", "--url", demo.url).returncode == 0
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)


def test_dcmon_fault_refuses_an_unknown_center_in_one_line(demo: Demo) -> None:
    """A fault naming an unknown center exits 1 with one line naming it."""
    result = dcmon("fault", "down", "atlantis", "--url", demo.url)
    assert result.returncode == 1
    assert "unknown center 'atlantis'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_dcmon_capacity_shows_tiers_and_candidates(demo: Demo) -> None:
    """`dcmon capacity` prints capacity by tier; --json and --resource give the candidates."""
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)
    table = dcmon("capacity", "--url", demo.url)
    assert table.returncode == 0, table.stderr
    assert "national" in table.stdout
    assert "provincial" in table.stdout
    query = ("--resource", "gpus", "--min", "1", "--from", "prov-da-nang")
    answer = json.loads(dcmon("capacity", "--url", demo.url, *query, "--json").stdout)
    assert answer["candidates"]
    assert all(c["available"] >= 1 for c in answer["candidates"])
    assert all(c["path"][0] == "prov-da-nang" for c in answer["candidates"])
    candidates = dcmon("capacity", "--url", demo.url, *query)
    assert "Candidates for gpus" in candidates.stdout
    assert "prov-da-nang > " in candidates.stdout
    missing_origin = dcmon("capacity", "--url", demo.url, "--resource", "gpus")
    assert missing_origin.returncode == 1
    assert "from" in missing_origin.stderr
    assert len(missing_origin.stderr.strip().splitlines()) == 1


def test_status_page_shows_every_center_and_a_fault_within_seconds(demo: Demo) -> None:
    """The page draws all 72 centers; a center downed via the API turns `down` on the map, and
    markers, links and pills show the status palette's colours."""
    from playwright.sync_api import sync_playwright

    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(demo.url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=20_000)
            markers = page.locator("#map [data-center]")
            assert markers.count() == 72
            page.wait_for_function(
                "document.querySelectorAll('#map [data-center][data-status=connected]').length"
                " + document.querySelectorAll('#map [data-center][data-status=degraded]').length"
                " === 72",
                timeout=20_000,
            )
            post_fault(demo.url, "down", "hub-south")
            page.wait_for_selector(
                '#map [data-center="hub-south"][data-status="down"]', timeout=10_000
            )
            page.wait_for_selector(
                '#incidents tr[data-element][data-center="hub-south"]', timeout=10_000
            )
            page.screenshot(path=str(ARTIFACTS / "status-page-hub-south-down.png"))
            assert_page_colours_are_the_palette(page)
        finally:
            browser.close()
            post_fault(demo.url, "heal")
    wait_until(lambda: all_connected(demo.url), timeout_s=30, interval_s=0.25)


def assert_page_colours_are_the_palette(page: Any) -> None:
    """Every center marker, link and status pill has the computed colour the palette gives it."""
    markers = page.eval_on_selector_all(
        "#map [data-center]", "els => els.map(e => [e.dataset.status, getComputedStyle(e).fill])"
    )
    assert "down" in {status for status, _ in markers}
    for status, fill in markers:
        assert fill == css_rgb(STATUS_COLOURS[status]), status
    lines = page.eval_on_selector_all(
        "#map [data-link]", "els => els.map(e => [e.dataset.state, getComputedStyle(e).stroke])"
    )
    assert lines
    for state, stroke in lines:
        assert stroke == css_rgb(LINK_COLOURS[state]), state
    pills = page.eval_on_selector_all(
        ".pill",
        "els => els.map(e => [e.classList[1], getComputedStyle(e).backgroundColor,"
        " getComputedStyle(e).color])",
    )
    assert "down" in {status for status, _, _ in pills}
    for status, background, text in pills:
        assert background == css_rgb(STATUS_COLOURS[status]), status
        assert text == css_rgb(STATUS_TEXT_COLOURS[status]), status


def test_ctrl_c_stops_the_demo_and_its_broker(tmp_path: Path) -> None:
    """SIGINT ends the demo with exit 0, and no broker or other child process is left."""
    demo = start_demo(tmp_path)
    broker = demo.broker_pid()
    children = psutil.Process(demo.process.pid).children(recursive=True)
    assert broker in {child.pid for child in children}
    assert stop_demo(demo) == 0, demo.text()
    assert "stopped" in demo.text()
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert not psutil.pid_exists(broker) or psutil.Process(broker).status() == psutil.STATUS_ZOMBIE


def test_the_demo_keeps_a_temporary_state_store_and_deletes_it_at_exit(tmp_path: Path) -> None:
    """The demo's report comes from a real store file in a temporary directory, which is gone
    once Ctrl-C has stopped the demo."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    demo = start_demo(tmp_path, {"TMPDIR": str(temporary)})
    try:
        [store] = temporary.glob("dcmon-demo-*/state.db")
        report = get_json(demo.url, f"/api/v1/report?from={time.time() - 60:.0f}")
        assert report["store"] == {"persistent": True, "healthy": True}
        assert len(report["centers"]) == 72
    finally:
        assert stop_demo(demo) == 0, demo.text()
    assert not store.exists()
    assert list(temporary.iterdir()) == []

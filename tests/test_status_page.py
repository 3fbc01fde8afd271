"""The status page as an operator sees it, in headless Chromium against a real ``dcmon demo``:
incidents rather than symptoms, links not up, every marker visible and clickable, the center
detail, the what-if box, start-up in one line, and a page that says when its data is stale or the
monitor is blind. Screenshots land in ``test-artifacts/`` at 1920x1080 and 1400x1000."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import wait_until
from tests.test_demo import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    Demo,
    all_connected,
    post_fault,
    start_demo,
    statuses,
    stop_demo,
)

pytestmark = pytest.mark.integration

WALL = {"width": 1920, "height": 1080}
LAPTOP = {"width": 1400, "height": 1000}
PAGE_TIMEOUT_MS = 30_000
"""Generous: the machine running the suite may be small and shared."""

# Each marker's centre, and what the browser finds there (the marker itself, or not).
MARKER_HITS = """() => [...document.querySelectorAll('#map [data-center]')].map(marker => {
  const box = marker.querySelector('.shape').getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const hit = document.elementFromPoint(x, y);
  const owner = hit && hit.closest('[data-center]');
  return {center: marker.dataset.center, hit: owner ? owner.dataset.center : null,
          width: box.width, x, y};
})"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo for the module's tests (each heals what it broke)."""
    running = start_demo(tmp_path_factory.mktemp("page-demo"))
    try:
        yield running
    finally:
        stop_demo(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, base: str, viewport: dict[str, int] = WALL) -> Any:
    """A fresh tab on the status page, loaded and drawn."""
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready=true]")
    return page


def healthy(demo: Demo) -> None:
    """Heal every fault and wait until every center is connected again."""
    post_fault(demo.url, "heal")
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)


def shoot(page: Any, name: str) -> None:
    """Screenshots at both sizes the issue names, back at the wall size afterwards."""
    ARTIFACTS.mkdir(exist_ok=True)
    for size in (LAPTOP, WALL):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # one layout pass; nothing is asserted on it
        page.screenshot(path=str(ARTIFACTS / f"{name}-{size['width']}x{size['height']}.png"))


def above_the_fold(page: Any, selector: str) -> bool:
    """The element's top edge is inside the viewport without scrolling."""
    box = page.eval_on_selector(
        selector, "e => { const r = e.getBoundingClientRect(); return [r.top, r.height]; }"
    )
    return bool(0 <= box[0] < page.viewport_size["height"] and box[1] > 0)


def test_start_up_is_one_line_and_every_marker_is_visible_and_clickable(
    demo: Demo, browser: Any
) -> None:
    """After start-up the event list holds one line for the 72 centers (and links) leaving
    unknown; at every marker's centre the browser finds that marker, at both screen sizes."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    page = open_page(browser, demo.url)
    try:
        page.wait_for_function(
            "document.querySelectorAll('#map [data-center][data-status=connected]').length === 72"
        )
        groups = page.locator("#events li.group")
        assert groups.count() == 1
        assert "72 centers" in groups.first.inner_text()
        assert int(groups.first.get_attribute("data-group") or 0) >= 72
        assert page.locator("#events > li[data-center]").count() == 0
        for size in (WALL, LAPTOP):
            page.set_viewport_size(size)
            page.wait_for_function(
                "size => innerWidth === size.width && innerHeight === size.height", arg=size
            )
            hits = page.evaluate(MARKER_HITS)  # one task: the layout cannot change mid-way
            assert len(hits) == 72
            hidden = [h for h in hits if h["hit"] != h["center"]]
            assert not hidden, f"markers covered at {size}: {hidden}"
            assert min(h["width"] for h in hits) >= 4, "a marker too small to see"
            assert all(0 <= h["y"] < size["height"] for h in hits), "a marker below the fold"
        shoot(page, "status-page-healthy")
    finally:
        page.close()


def test_a_click_on_a_co_located_marker_opens_its_detail(demo: Demo, browser: Any) -> None:
    """Clicking each of the co-located centers of Ha Noi, Da Nang and Ho Chi Minh City opens
    its detail: status, capacity and its links with RTT and loss."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    page = open_page(browser, demo.url, LAPTOP)
    try:
        for center in (
            "ndc-north",
            "hub-north",
            "hpc-north",
            "prov-da-nang",
            "hub-central",
            "hpc-central",
            "hub-south",
            "hpc-south",
        ):
            page.locator(f'#map [data-center="{center}"]').click()
            # The panel is emptied when another center opens, so this waits for this one's answer.
            page.wait_for_selector(
                f'#detail[data-center="{center}"]:not([aria-busy]) table.links tbody tr'
            )
            # The detail is this center's, not the one shown before (whose links name it too).
            assert page.inner_text("#detail header [data-detail-id]") == center
            detail = page.inner_text("#detail")
            assert " ms" in detail, detail  # an RTT
            assert "%" in detail, detail  # a loss
            assert page.locator("#detail .pill").count() >= 1
        shoot(page, "status-page-center-detail")
    finally:
        page.close()


def test_a_hub_down_is_one_incident_listing_its_twenty_victims(demo: Demo, browser: Any) -> None:
    """`down hub-central` shows one critical incident at the top, with hub-central as the
    failed element, its 20 victims listed under it and the capacity it costs; incidents and
    the map are above the fold on a 1920x1080 wall display; the legend draws link states as
    the map does."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    page = open_page(browser, demo.url)
    try:
        post_fault(demo.url, "down", "hub-central")
        card = '#incidents [data-incident][data-severity="critical"][data-victims="20"]'
        page.wait_for_selector(card)
        assert page.locator("#incidents [data-incident]").count() == 1
        page.wait_for_selector(f'{card} tr[data-element][data-center="hub-central"]')
        assert page.locator(f"{card} tr[data-victim]").count() == 20
        text = page.inner_text(card)
        assert "hub-central is down" in text
        assert "unreachable:" in text
        assert "at risk:" in text
        assert page.locator('#map [data-center="hub-central"][data-status="down"]').count() == 1
        assert above_the_fold(page, "#incidents [data-incident]")
        assert above_the_fold(page, "#map")
        page.wait_for_selector('#links-not-up tr[data-state="down"]', state="attached")
        # The hub's two dozen links went down together: one line in the events, not 25.
        page.wait_for_selector("#events li.group[data-group]")
        assert page.locator('#events > li.link-event[data-link^="hub-central--"]').count() == 0
        legend_matches_map(page)
        shoot(page, "status-page-hub-central-down")
    finally:
        page.close()
        healthy(demo)


def legend_matches_map(page: Any) -> None:
    """Each link state's legend sample has the stroke and dashes of that state on the map."""
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('#map [data-link]')].map(e => {
          const s = getComputedStyle(e); return [e.dataset.state, s.stroke, s.strokeDasharray];
        })"""
    )
    samples = page.evaluate(
        """() => [...document.querySelectorAll('[data-legend-link]')].map(e => {
          const s = getComputedStyle(e); return [e.dataset.legendLink, s.stroke, s.strokeDasharray];
        })"""
    )
    legend = {state: (stroke, dashes) for state, stroke, dashes in samples}
    seen = set()
    for state, stroke, dashes in drawn:
        assert legend[state] == (stroke, dashes), state
        seen.add(state)
    assert {"up", "down"} <= seen
    assert legend["down"][1] != "none", "the map dashes down links, so must the legend"


def test_a_cut_redundant_link_is_listed_under_links_not_up(demo: Demo, browser: Any) -> None:
    """Cutting a redundant link (nobody loses anything) lists it under "links not up", opens an
    info incident and puts the link's change in the event list."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    page = open_page(browser, demo.url)
    key = "hub-central--ndc-north"
    try:
        post_fault(demo.url, "cut", "hub-central", "ndc-north")
        page.wait_for_selector(f'#links-not-up tr[data-link="{key}"][data-state="down"]')
        # Its own line, or inside a burst of link changes (expandable) if others came with it.
        page.wait_for_selector(
            f'#events li [data-link="{key}"][data-state="down"], '
            f'#events li.link-event[data-link="{key}"][data-state="down"]',
            state="attached",
        )
        page.wait_for_selector('#incidents [data-incident][data-severity="info"]')
        assert key in page.inner_text("#incidents")
        assert page.locator(f'#map [data-link="{key}"][data-state="down"]').count() == 1
        shoot(page, "status-page-link-cut")
    finally:
        page.close()
        healthy(demo)


def test_what_if_shows_a_hypothetical_outcome_then_clears_with_nothing_changed(
    demo: Demo, browser: Any
) -> None:
    """The detail's "what if this center fails?" on hub-central shows the hypothetical outcome
    on the map under a WHAT-IF banner; the live state stays as it was; Clear brings the live
    map back."""
    wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
    page = open_page(browser, demo.url)
    try:
        page.click('#map [data-center="hub-central"]')
        page.click('#detail [data-whatif-center="hub-central"]')
        page.wait_for_selector("#whatif-banner:not([hidden])")
        assert "nothing changed for real" in page.inner_text("#whatif-banner")
        page.wait_for_selector(
            '#map [data-center="hub-central"].hypothetical[data-status="down"]', state="attached"
        )
        changed = page.locator("#whatif-result .changes tr[data-center]").count()
        assert page.locator("#map [data-center].hypothetical").count() == changed
        assert page.locator('#whatif-result .changes tr[data-status="degraded"]').count() == 20
        assert "would open" in page.inner_text("#whatif-result")
        shoot(page, "status-page-what-if")
        # Nothing happened for real: the API and the live parts of the page say so.
        assert set(statuses(demo.url).values()) <= {"connected", "degraded"}
        assert page.locator("#incidents [data-incident]").count() == 0
        assert "72 connected" in page.inner_text("#summary")
        page.click("#whatif-banner-clear")
        page.wait_for_selector("#whatif-banner", state="hidden")
        assert page.locator("#map [data-center].hypothetical").count() == 0
        page.wait_for_selector(
            '#map [data-center="hub-central"][data-status="connected"]', state="attached"
        )
    finally:
        page.close()


def test_blind_says_unknown_and_a_dead_aggregator_turns_the_page_stale(
    tmp_path: Path, browser: Any
) -> None:
    """Broker killed: the page says the monitor is blind and the connected share and capacity
    are unknown (not 0 %, not 0 B). Aggregator gone: within 10 s a banner gives the age of the
    data and the page is greyed, instead of still saying everything is connected."""
    demo = start_demo(tmp_path)
    try:
        wait_until(lambda: all_connected(demo.url), timeout_s=60, interval_s=0.25)
        page = open_page(browser, demo.url)
        try:
            os.kill(demo.broker_pid(), signal.SIGKILL)
            page.wait_for_selector("#blind-banner:not([hidden])")
            page.wait_for_selector('#summary [data-connected="unknown"]')
            assert "0.0 %" not in page.inner_text("#summary")
            page.wait_for_selector("#capacity td.unknown-value")
            assert "0 B" not in page.inner_text("#capacity")
            shoot(page, "status-page-blind")
            assert stop_demo(demo) is not None
            gone = time.monotonic()
            page.wait_for_selector("#stale-banner:not([hidden])", timeout=10_000)
            assert time.monotonic() - gone <= 10.5
            assert page.get_attribute("body", "data-stale") == "true"
            assert "STALE" in page.inner_text("#stale-banner")
            page.wait_for_function(
                "/ old/.test(document.getElementById('stale-banner').textContent)"
            )
            shoot(page, "status-page-aggregator-gone")
        finally:
            page.close()
    finally:
        stop_demo(demo)

"""What-if over the real HTTP API and ``dcmon whatif`` (real mosquitto, real aggregator): the
prediction, then the same failure really happening, and bad questions named in one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.aggregator_harness import (
    LiveAggregator,
    aggregator_config,
    eventually,
    running_centers,
    write_small_topology,
)
from tests.services import Mosquitto

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parent.parent


def ask(live: LiveAggregator, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    """POST a what-if; the status and the decoded answer."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(
        live.url + "/api/v1/whatif",
        data=data,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def dcmon(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _settled(live: LiveAggregator) -> bool:
    return live.statuses() == {
        "ndc-a": "connected",
        "ndc-b": "connected",
        "prov-c": "connected",
        "prov-d": "degraded",
    }


async def test_a_what_if_predicts_exactly_what_the_failure_then_does(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """ndc-b down, asked first: ndc-b down, prov-d isolated, prov-c degraded, one critical
    incident; nothing changes live; then ndc-b really fails and the aggregator reports exactly
    the predicted statuses, link states and connected ratios."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port) as agents:
            await eventually(lambda: _settled(live))
            status, predicted = ask(live, {"down": ["ndc-b"]})
            assert status == 200, predicted
            assert {c["center"]: (c["from"], c["to"]) for c in predicted["changes"]} == {
                "ndc-b": ("connected", "down"),
                "prov-c": ("connected", "degraded"),
                "prov-d": ("degraded", "isolated"),
            }
            [incident] = predicted["incidents"]
            assert (incident["kind"], incident["severity"], incident["new"]) == (
                "center",
                "critical",
                True,
            )
            assert predicted["connected_ratio"]["before"]["all"] == 1.0
            assert predicted["connected_ratio"]["after"]["all"] == 0.5
            assert predicted["lost_core"] == ["ndc-b", "prov-d"]
            assert _settled(live)  # asking changed nothing

            await agents.fail("ndc-b")
            await eventually(lambda: live.statuses() == predicted["centers"])
            links = {f"{x['a']}--{x['b']}": x["state"] for x in live.json("/api/v1/links")["links"]}
            assert links == predicted["links"]
            ratio = live.metric('dcmon_federation_connected_ratio{tier="all"}')
            assert ratio == predicted["connected_ratio"]["after"]["all"]
            await eventually(lambda: len(live.json("/api/v1/incidents")["incidents"]) == 1)
            [real] = live.json("/api/v1/incidents")["incidents"]
            assert (real["summary"], real["victims"]) == (incident["summary"], incident["victims"])

            # Repairing it, from the state it is in now, predicts the way back.
            status, back = ask(live, {"repair": ["ndc-b"]})
            assert status == 200
            assert back["centers"] == {
                "ndc-a": "connected",
                "ndc-b": "connected",
                "prov-c": "connected",
                "prov-d": "degraded",
            }
            assert back["incidents"] == []


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"down": ["atlantis"]}, 400, "bad parameter down: 'atlantis' is not a registered center"),
        ({"cut": [["ndc-a", "ndc-a"]]}, 400, "bad parameter cut: ndc-a--ndc-a is a self-link"),
        (
            {"cut": [["ndc-a", "prov-d"]]},
            400,
            "bad parameter cut: ndc-a--prov-d is not a registered link",
        ),
        ({"repair": [["ghost", "ndc-a"]]}, 400, "'ghost' is not a registered center"),
        ({"down": "ndc-a"}, 400, "bad parameter down: must be a list"),
        ({"downn": ["ndc-a"]}, 400, "bad parameter downn: unknown field"),
        ({"base": "tomorrow"}, 400, "'tomorrow' is not one of current, healthy"),
        ([1, 2], 400, "bad parameter body: must be a JSON object"),
    ],
)
def test_bad_questions_are_a_400_naming_the_item(
    mosquitto: Mosquitto, tmp_path: Path, body: Any, status: int, error: str
) -> None:
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        got, answer = ask(live, body)
        assert got == status
        assert error in answer["error"]
        got, answer = ask(live, None, raw=b"{not json")
        assert (got, answer["parameter"]) == (400, "body")
        assert live.statuses()  # still answering


async def test_dcmon_whatif_prints_the_outcome_and_errors_in_one_line(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """The agents keep beating meanwhile (the command runs in a thread)."""
    with LiveAggregator(aggregator_config(mosquitto.url, write_small_topology(tmp_path))) as live:
        async with running_centers(mosquitto.port):
            await eventually(lambda: _settled(live))
            result = await asyncio.to_thread(
                dcmon, "whatif", "--url", live.url, "--down", "ndc-b", "--cut", "ndc-a", "prov-c"
            )
            assert result.returncode == 0, result.stderr
            out = result.stdout
            assert out.startswith("What if: down ndc-b, cut ndc-a--prov-c (from the current state)")
            assert "connected: 100.0 % -> 25.0 %" in out
            assert "connected -> isolated" in out
            healthy = await asyncio.to_thread(
                dcmon, "whatif", "--url", live.url, "--down", "ndc-a", "--base", "healthy"
            )
            assert "(from the healthy federation)" in healthy.stdout
            printed = await asyncio.to_thread(
                dcmon, "whatif", "--url", live.url, "--down", "prov-d", "--json"
            )
            as_json = json.loads(printed.stdout)
            assert as_json["lost_core"] == ["prov-d"]
            bad = await asyncio.to_thread(
                dcmon, "whatif", "--url", live.url, "--cut", "ndc-a", "prov-d"
            )
            assert bad.returncode == 1
            assert bad.stderr.strip().splitlines() == [
                "dcmon whatif: --cut: ndc-a--prov-d is not a registered link"
            ]
            nothing = await asyncio.to_thread(dcmon, "whatif", "--url", live.url)
            assert nothing.returncode == 1
            assert "name something" in nothing.stderr

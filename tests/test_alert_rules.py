"""Alert rules: promtool-clean, unit-tested, every alert with severity, summary and runbook."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.status.engine import EngineSettings
from scripts.dashboards.runbook import runbook_link
from tests.certificates import authority, issue
from tests.conftest import REPO
from tests.monitoring_stack import seconds

PROMETHEUS_DIR = REPO / "config" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
RUNBOOK = REPO / "docs" / "runbook.md"
BASE_URL = "{{ $externalLabels.dcmon_url }}"
"""The one base URL of every link in an alert (prometheus.yml's external label `dcmon_url`)."""


def _dashboard_variables() -> dict[str, set[str]]:
    """Each shipped dashboard's uid and the names of its template variables."""
    found = {}
    for path in (REPO / "grafana" / "dashboards").glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        found[dashboard["uid"]] = {v["name"] for v in dashboard["templating"].get("list", [])}
    return found


DASHBOARD_UIDS = _dashboard_variables()

# Every alert the issue asks for, by name (the contract with Alertmanager and the runbook).
EXPECTED_ALERTS = {
    "DcmonIncident",
    "DcmonCenterNotConnected",
    "DcmonCenterAgentStale",
    "DcmonCenterRedundancyLost",
    "DcmonLinkDown",
    "DcmonLinkAsymmetric",
    "DcmonLinkLossy",
    "DcmonFederationPartitioned",
    "DcmonFederationConnectedRatioLow",
    "DcmonFederationCapacityLow",
    "DcmonAggregatorBlind",
    "DcmonAggregatorAbsent",
    "DcmonWatchdog",
}
SEVERITIES = {"critical", "warning", "none"}
FROM_THE_INCIDENT = "{{ $labels.severity }}"
"""DcmonIncident's severity: the incident's own (critical, warning or info)."""
# The alerts an incident explains: they carry its `incident` label (Alertmanager inhibits them).
INCIDENT_MEMBERS = {
    "DcmonCenterNotConnected": "dcmon_center_incident",
    "DcmonCenterAgentStale": "dcmon_center_incident",
    "DcmonCenterRedundancyLost": "dcmon_center_incident",
    "DcmonLinkDown": "dcmon_link_incident",
}


def promtool() -> str:
    """The real promtool binary (Debian package)."""
    found = shutil.which("promtool") or "/usr/bin/promtool"
    assert Path(found).exists(), "promtool is not installed (apt-get install prometheus)"
    return found


def alert_rules() -> list[dict[str, Any]]:
    """Every alerting rule of every rule file."""
    rules: list[dict[str, Any]] = []
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document["groups"]:
            rules.extend(rule for rule in group["rules"] if "alert" in rule)
    return rules


def unit_test_cases() -> list[dict[str, Any]]:
    """Every ``alert_rule_test`` case of every promtool test file."""
    cases: list[dict[str, Any]] = []
    for path in TEST_FILES:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in document["tests"]:
            cases.extend(test.get("alert_rule_test", []))
    return cases


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub derives from the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def test_rule_files_pass_promtool_check() -> None:
    """`promtool check rules` accepts every rule file."""
    assert RULE_FILES
    result = subprocess.run(
        [promtool(), "check", "rules", *map(str, RULE_FILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_passes_promtool_check() -> None:
    """The shipped prometheus.yml is valid and loads the rule files."""
    result = subprocess.run(
        [promtool(), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def secured_scrape_job() -> dict[str, Any]:
    """The commented-out https + basic auth job of prometheus.yml, uncommented."""
    text = (PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8")
    block = text.split("# BEGIN dcmon over https\n", 1)[1].split("  # END dcmon over https", 1)[0]
    lines = [line.removeprefix("  # ") for line in block.splitlines()]
    jobs: list[dict[str, Any]] = yaml.safe_load("\n".join(lines))
    assert len(jobs) == 1
    return jobs[0]


def test_the_https_scrape_job_of_prometheus_yml_passes_promtool_check(tmp_path: Path) -> None:
    """Uncommented, the TLS + basic auth job is valid, keeps job="dcmon", reads secrets files."""
    job = secured_scrape_job()
    assert job["job_name"] == "dcmon"
    assert job["scheme"] == "https"
    assert set(job["basic_auth"]) == {"username", "password_file"}  # no password in the file
    assert set(job["tls_config"]) == {"ca_file", "cert_file", "key_file"}
    # promtool checks that the files exist: give it real ones.
    authority(tmp_path, "dcmon_ca")
    issue(tmp_path, "prometheus", "dcmon_ca")
    (tmp_path / "dcmon_scrape_password").write_text("scrape-secret\n", encoding="utf-8")
    rendered = yaml.safe_dump(job).replace("/run/secrets/", f"{tmp_path}/")
    shipped = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    shipped["rule_files"] = [str(PROMETHEUS_DIR / "rules" / "*.yml")]
    shipped["scrape_configs"] = [
        yaml.safe_load(rendered) if other["job_name"] == "dcmon" else other
        for other in shipped["scrape_configs"]
    ]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    result = subprocess.run(
        [promtool(), "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_rule_unit_tests_pass_promtool() -> None:
    """`promtool test rules` passes every unit test (alerts fire and stay quiet as expected)."""
    assert TEST_FILES
    result = subprocess.run(
        [promtool(), "test", "rules", *(path.name for path in TEST_FILES)],
        cwd=PROMETHEUS_DIR / "tests",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout


def test_every_issue_alert_exists() -> None:
    """The rules define exactly the alerts operations rely on, each once."""
    names = [rule["alert"] for rule in alert_rules()]
    assert sorted(names) == sorted(EXPECTED_ALERTS)


@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_every_alert_is_unit_tested_firing_and_not_firing(alert: str) -> None:
    """Each alert has a promtool case where it fires and one where it stays quiet."""
    cases = [case for case in unit_test_cases() if case["alertname"] == alert]
    assert any(case.get("exp_alerts") for case in cases), f"{alert} never expected to fire"
    if alert != "DcmonWatchdog":  # the Watchdog fires by definition, always
        assert any(not case.get("exp_alerts") for case in cases), f"{alert} never expected quiet"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_has_severity_summary_and_runbook(rule: dict[str, Any]) -> None:
    """An alert names its severity, a summary with the affected thing, and an existing runbook."""
    severity = rule["labels"]["severity"]
    assert severity in SEVERITIES or (
        rule["alert"] == "DcmonIncident" and severity == FROM_THE_INCIDENT
    )
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert annotations["description"].strip()
    anchors = github_anchors(RUNBOOK.read_text(encoding="utf-8"))
    assert rule["alert"].lower() in anchors, f"{rule['alert']}: no section in docs/runbook.md"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_every_alert_links_absolutely_to_its_runbook_section_and_a_dashboard(
    rule: dict[str, Any],
) -> None:
    """runbook_url opens the alert's own runbook panel, dashboard_url a shipped dashboard, both
    under the one base URL (Prometheus' external label `dcmon_url`)."""
    annotations = rule["annotations"]
    assert annotations["runbook_url"] == BASE_URL + runbook_link(rule["alert"])
    dashboard = annotations["dashboard_url"]
    assert dashboard.startswith(BASE_URL + "/d/"), dashboard
    uid = dashboard.removeprefix(BASE_URL + "/d/").split("?", 1)[0]
    assert uid in DASHBOARD_UIDS, dashboard
    for variable in re.findall(r"var-(\w+)=", dashboard):
        assert variable in DASHBOARD_UIDS[uid], (dashboard, variable)


def test_the_base_url_is_set_once_in_prometheus_yml() -> None:
    """prometheus.yml sets the external label every link is built from, as a URL without '/'."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    base = config["global"]["external_labels"]["dcmon_url"]
    assert re.fullmatch(r"https?://[^/\s]+(/[^\s]*[^/])?", base), base


def test_the_runbook_links_point_at_the_alerts_own_section() -> None:
    """Control: each alert's runbook panel is the one titled with its name in runbook.json."""
    runbook = json.loads((REPO / "grafana" / "dashboards" / "runbook.json").read_text("utf-8"))
    titles = {panel["id"]: panel["title"] for panel in runbook["panels"]}
    for rule in alert_rules():
        panel = int(rule["annotations"]["runbook_url"].rsplit("=", 1)[1])
        assert titles[panel] == rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_descriptions_never_run_two_sentences_together(rule: dict[str, Any]) -> None:
    """A description's sentences are separated ('…it. Root…', never '…it Root cause…')."""
    text = re.sub(r"\{\{.*?\}\}", "X", rule["annotations"]["description"])
    text = " ".join(text.split())
    assert not re.search(r"[a-z] (Root|Incident|Victims|Status|No|The|Every) ", text), text
    assert text.rstrip().endswith((".", ".X", "X")), text


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: str(rule["alert"]))
def test_center_and_link_alerts_name_what_failed(rule: dict[str, Any]) -> None:
    """A center alert's summary names the center, a link alert's summary both ends."""
    summary = rule["annotations"]["summary"]
    if rule["alert"].startswith("DcmonCenter"):
        assert "$labels.center" in summary
    if rule["alert"].startswith("DcmonLink"):
        assert "$labels.a" in summary
        assert "$labels.b" in summary
    if rule["alert"] == "DcmonIncident":
        assert "$labels.incident" in summary


def test_non_watchdog_alerts_wait_before_firing() -> None:
    """Every alert except the Watchdog holds for a while (`for:`) so a blip never pages."""
    for rule in alert_rules():
        if rule["alert"] != "DcmonWatchdog":
            assert rule.get("for"), f"{rule['alert']} has no for: duration"


def rule_named(name: str) -> dict[str, Any]:
    """The alerting rule ``name``."""
    (rule,) = [rule for rule in alert_rules() if rule["alert"] == name]
    return rule


def test_one_incident_alert_per_incident_with_its_severity_and_tier() -> None:
    """DcmonIncident: one per incident, with its severity and tier but not its changing summary."""
    rule = rule_named("DcmonIncident")
    assert rule["labels"]["severity"] == FROM_THE_INCIDENT
    by = rule["expr"].split("by (", 1)[1].split(")", 1)[0]
    assert [label.strip() for label in by.split(",")] == [
        "job",
        "instance",
        "incident",
        "severity",
        "tier",
    ]


def test_an_incident_keeps_firing_through_the_aggregators_hold_down() -> None:
    """keep_firing_for equals the default hold-down, so a reopened flap never pages again."""
    rule = rule_named("DcmonIncident")
    assert seconds(rule["keep_firing_for"]) == EngineSettings().incident_hold_down_s


@pytest.mark.parametrize("alert", sorted(INCIDENT_MEMBERS))
def test_center_and_link_alerts_carry_their_incident_and_fire_after_it(alert: str) -> None:
    """Alerts an incident explains carry its label and wait longer, so the incident fires first."""
    rule = rule_named(alert)
    assert INCIDENT_MEMBERS[alert] in rule["expr"]
    assert seconds(rule["for"]) > seconds(rule_named("DcmonIncident")["for"])

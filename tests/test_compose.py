"""docker-compose.yml and the Dockerfile: schema-valid, complete, and consistent with the configs.

No Docker engine runs here, so the file is validated against the compose-spec JSON schema and
everything it refers to (mounted paths, build files, commands, ports, accounts) is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from monitor.commands.cli import build_parser
from tests.conftest import REPO
from tests.shipped_broker import MOSQUITTO_DIR, ShippedBroker

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DCMON_SERVICES = ("aggregator", "simulator")


def compose() -> dict[str, Any]:
    """The parsed compose file."""
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def check_jsonschema() -> str:
    """The check-jsonschema executable of this Python environment."""
    beside = Path(sys.executable).parent / "check-jsonschema"
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is not installed (pip install check-jsonschema)"
    return found


def interpolate_defaults(text: str) -> str:
    """Resolve ``${VAR:-default}`` the way compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", text)


def test_compose_file_validates_against_the_compose_spec() -> None:
    """check-jsonschema's built-in compose-spec schema accepts docker-compose.yml."""
    result = subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_has_no_obsolete_version_key() -> None:
    """The top-level `version:` key is obsolete in the Compose specification."""
    assert "version" not in compose()


def test_compose_runs_the_whole_system() -> None:
    """Broker, aggregator, simulated agents, Prometheus, Alertmanager and Grafana are services."""
    assert set(compose()["services"]) == {
        "mosquitto",
        "aggregator",
        "simulator",
        "prometheus",
        "alertmanager",
        "grafana",
    }


def test_every_mounted_file_or_directory_exists_in_the_repository() -> None:
    """Each bind mount's source path exists (a missing one would become an empty directory)."""
    mounts = 0
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                mounts += 1
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
    assert mounts >= 7


def test_every_service_has_a_healthcheck() -> None:
    """Every service declares a healthcheck that is not disabled."""
    for name, service in compose()["services"].items():
        check = service.get("healthcheck")
        assert check, name
        assert not check.get("disable"), name
        assert check["test"], name


def test_build_context_and_everything_the_dockerfile_copies_exist() -> None:
    """The image builds from files that exist, and runs as a non-root user."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("COPY "):
            *sources, _destination = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), source
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    for name in DCMON_SERVICES:
        build = compose()["services"][name]["build"]
        assert (REPO / build["context"] / build["dockerfile"]).exists()


@pytest.mark.parametrize("name", DCMON_SERVICES)
def test_dcmon_service_commands_parse(name: str) -> None:
    """The aggregator's and simulator's commands are accepted by the real `dcmon` parser."""
    command = compose()["services"][name]["command"]
    args = build_parser().parse_args(command)
    assert callable(args.func)


def test_prometheus_scrapes_and_alerts_the_compose_services() -> None:
    """prometheus.yml's targets are the compose services on the ports they listen on."""
    prometheus = yaml.safe_load((REPO / "config/prometheus/prometheus.yml").read_text())
    job = next(job for job in prometheus["scrape_configs"] if job["job_name"] == "dcmon")
    listen = next(
        arg for arg in compose()["services"]["aggregator"]["command"] if arg.startswith("--listen")
    )
    port = listen.rsplit(":", 1)[1]
    assert job["static_configs"][0]["targets"] == [f"aggregator:{port}"]
    alertmanagers = prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alertmanagers == ["alertmanager:9093"]


async def test_the_compose_demo_accounts_log_in_to_the_shipped_broker(tmp_path: Path) -> None:
    """The aggregator and simulator credentials in compose match the shipped demo passwd."""
    services = compose()["services"]
    broker = ShippedBroker(tmp_path, "mosquitto.conf", {}, password_file=MOSQUITTO_DIR / "passwd")
    broker.start()
    try:
        for name in DCMON_SERVICES:
            environment = services[name]["environment"]
            user = environment["DCMON_MQTT_USERNAME"]
            password = interpolate_defaults(environment["DCMON_MQTT_PASSWORD"])
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username=user, password=password, identifier=name
            ):
                pass  # connected: the broker accepted the account
    finally:
        broker.stop()

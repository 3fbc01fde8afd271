"""docker-compose.yml and the Dockerfile: schema-valid, complete, and consistent with the configs.

No Docker engine runs here, so the file is validated against the compose-spec JSON schema and
everything it refers to (mounted paths, build files, commands, ports, accounts) is checked.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from agents import protocol
from monitor.commands.cli import build_parser
from monitor.registry import load_registry
from tests.conftest import REPO
from tests.shipped_broker import MOSQUITTO_DIR, ShippedBroker

COMPOSE = REPO / "docker-compose.yml"
TOPOLOGY = REPO / "config" / "topology.yaml"
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


def test_every_published_port_is_bound_to_loopback() -> None:
    """Compose publishes the aggregator (9108) and every other port on 127.0.0.1 only."""
    services = compose()["services"]
    assert "127.0.0.1:9108:9108" in services["aggregator"]["ports"]
    published = [
        (name, port) for name, service in services.items() for port in service.get("ports", [])
    ]
    assert len(published) == 5
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def service_environment(name: str) -> dict[str, str]:
    """A service's environment, with compose's ``${VAR:-default}`` defaults filled in."""
    environment = compose()["services"][name]["environment"]
    return {key: interpolate_defaults(str(value)) for key, value in environment.items()}


def healthcheck_login() -> tuple[str, str]:
    """User and password the broker's healthcheck (``mosquitto_sub -u … -P "$${VAR}"``) uses."""
    command = shlex.split(compose()["services"]["mosquitto"]["healthcheck"]["test"][1])
    user = command[command.index("-u") + 1]
    variable = command[command.index("-P") + 1].strip("${}")
    return user, service_environment("mosquitto")[variable]


def run_compose_simulator(
    broker: ShippedBroker,
    environment: dict[str, str],
    without: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> list[str]:
    """Compose's simulator command as a real ``dcmon`` process, for 6 s, against ``broker``.

    Container paths are mapped back through the service's bind mounts, the broker address is
    ``broker``'s; arguments in ``without`` are left out, ``extra`` added (and override). Returns
    the progress lines it printed.
    """
    service = compose()["services"]["simulator"]
    command = [
        arg.replace("mqtt://mosquitto:1883", f"mqtt://127.0.0.1:{broker.port}")
        for arg in service["command"]
        if arg not in without
    ]
    for volume in service["volumes"]:
        outside, inside = volume.split(":")[:2]
        command = [arg.replace(inside, str(REPO / outside)) for arg in command]
    env = {key: value for key, value in os.environ.items() if not key.startswith("DCMON_")}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *command, "--heartbeat-interval", "0.5",
         "--report-every", "1", "--duration", "6", *extra],
        capture_output=True, text=True, env=env | environment, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "agents connected" in line]


def connection_errors(report: str) -> int:
    """The error count of a simulator progress line (``…, 3 connection errors``)."""
    found = re.search(r"(\d+) connection errors$", report)
    assert found, report
    return int(found.group(1))


@pytest.fixture
def demo_broker(tmp_path: Path) -> Iterator[ShippedBroker]:
    """The shipped broker config with the shipped DEMO password file, as compose runs it."""
    broker = ShippedBroker(tmp_path, "mosquitto.conf", {}, password_file=MOSQUITTO_DIR / "passwd")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_the_compose_demo_accounts_log_in_to_the_shipped_broker(
    demo_broker: ShippedBroker,
) -> None:
    """The aggregator's, the healthcheck's and every center's demo password match the passwd."""
    simulator_password = service_environment("simulator")["DCMON_MQTT_PASSWORD"]
    logins = [
        ("aggregator", service_environment("aggregator")["DCMON_MQTT_PASSWORD"]),
        healthcheck_login(),
        *((center.id, simulator_password) for center in load_registry(TOPOLOGY).centers),
    ]
    assert service_environment("aggregator")["DCMON_MQTT_USERNAME"] == "aggregator"
    for user, password in logins:
        async with aiomqtt.Client(
            "127.0.0.1", demo_broker.port, username=user, password=password, identifier=user
        ):
            pass  # connected: the broker accepted the account


async def test_the_broker_healthcheck_does_not_evict_the_aggregator(
    demo_broker: ShippedBroker,
) -> None:
    """The healthcheck reads the broker's uptime under its own account; the aggregator stays on."""
    user, password = healthcheck_login()
    port = demo_broker.port
    aggregator = aiomqtt.Client(
        "127.0.0.1",
        port,
        username="aggregator",
        password=service_environment("aggregator")["DCMON_MQTT_PASSWORD"],
        identifier="dcmon-aggregator-aggregator-1-1",
    )
    marker = protocol.aggregator_topic("aggregator-1")
    async with aggregator:
        await aggregator.subscribe(marker, qos=1)
        for _ in range(3):
            async with aiomqtt.Client("127.0.0.1", port, username=user, password=password) as check:
                await check.subscribe("$SYS/broker/uptime")
                async with asyncio.timeout(5):
                    await anext(aiter(check.messages))
        await aggregator.publish(marker, b"{}", qos=1)
        async with asyncio.timeout(5):
            assert str((await anext(aiter(aggregator.messages))).topic) == marker


def test_the_compose_simulator_keeps_every_center_connected_on_the_shipped_broker(
    demo_broker: ShippedBroker,
) -> None:
    """Each simulated center logs in as itself: all 72 stay connected, no connection errors."""
    centers = len(load_registry(TOPOLOGY).centers)
    reports = run_compose_simulator(demo_broker, service_environment("simulator"))
    assert reports, "the simulator printed no progress"
    assert reports[-1].startswith(f"{centers}/{centers} agents connected"), reports
    assert connection_errors(reports[-1]) == 0, reports


def test_simulated_centers_sharing_one_account_evict_one_another(
    demo_broker: ShippedBroker,
) -> None:
    """Control: centers under one account (client id = user name) keep evicting one another."""
    environment = service_environment("simulator") | {"DCMON_MQTT_USERNAME": "ndc-north"}
    reports = run_compose_simulator(
        demo_broker,
        environment,
        without=("--center-accounts",),
        extra=("--scale", "3", "--duration", "8"),  # long enough to collide under load
    )
    assert reports, "the simulator printed no progress"
    assert connection_errors(reports[-1]) > 0, reports

"""mqtts:// end to end: agents and the aggregator on a TLS broker with client certificates.

The broker takes each client's certificate CN as its user name (``use_identity_as_username``),
so the ACL ``pattern write dcmon/v1/centers/%u/#`` binds an agent to the center in its
certificate, as ``docs/operations.md`` recommends for production.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.broker import TlsFiles
from tests.agent_harness import AgentProcesses
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.certificates import authority, issue
from tests.services import Mosquitto, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """A test CA, a server certificate for 127.0.0.1, client certificates, and a rogue CA."""
    directory = tmp_path / "certs"
    directory.mkdir()
    authority(directory, "ca")
    authority(directory, "rogue-ca")
    issue(directory, "server", "ca", ip_san=True)
    for client in ("aggregator", "prov-c"):
        issue(directory, client, "ca")
    return directory


@pytest.fixture
def tls_broker(tmp_path: Path, certs: Path) -> Mosquitto:
    """A mosquitto that only accepts clients with a certificate from the test CA."""
    acl = tmp_path / "acl"
    acl.write_text(
        "user aggregator\ntopic read dcmon/v1/#\ntopic write dcmon/v1/aggregators/#\n\n"
        "pattern write dcmon/v1/centers/%u/#\n",
        encoding="utf-8",
    )
    broker = Mosquitto(
        tmp_path / "mosquitto",
        extra_config=(
            f"cafile {certs / 'ca.crt'}\ncertfile {certs / 'server.crt'}\n"
            f"keyfile {certs / 'server.key'}\nrequire_certificate true\n"
            f"use_identity_as_username true\nacl_file {acl}\n"
            # As root, mosquitto would switch to user "mosquitto", who cannot read tmp_path.
            "user root\n"
        ),
    )
    broker.start()
    return broker


def _agent_args(broker: Mosquitto, certs: Path, center: str, ca: str) -> tuple[str, ...]:
    return (
        "--center", center, "--broker", f"mqtts://127.0.0.1:{broker.port}",
        "--ca-file", str(certs / f"{ca}.crt"),
        "--cert-file", str(certs / "prov-c.crt"), "--key-file", str(certs / "prov-c.key"),
        "--heartbeat-interval", "0.3", "--no-probe-responder",
    )  # fmt: skip


def test_agent_and_aggregator_speak_mqtts_with_client_certificates(
    tls_broker: Mosquitto, certs: Path, tmp_path: Path
) -> None:
    """An agent with its center's certificate is heard by an aggregator over mqtts://."""
    config = aggregator_config(
        f"mqtts://127.0.0.1:{tls_broker.port}",
        write_small_topology(tmp_path),
        tls=TlsFiles(
            ca_file=str(certs / "ca.crt"),
            cert_file=str(certs / "aggregator.crt"),
            key_file=str(certs / "aggregator.key"),
        ),
    )
    agents = AgentProcesses(tmp_path / "agents")
    try:
        with LiveAggregator(config) as live:
            wait_until(lambda: live.get("/readyz")[0] == 200, timeout_s=30)
            agents.start(*_agent_args(tls_broker, certs, "prov-c", "ca"))

            def heard() -> bool:
                status, body = live.get("/api/v1/centers/prov-c")
                return status == 200 and bool(json.loads(body)["center"]["live"])

            wait_until(heard, timeout_s=30)
    finally:
        agents.kill_all()
        tls_broker.stop()


def test_agent_that_distrusts_the_broker_says_why_and_keeps_trying(
    tls_broker: Mosquitto, certs: Path, tmp_path: Path
) -> None:
    """A broker certificate from an unknown CA is a logged, retried failure, not a crash."""
    agents = AgentProcesses(tmp_path / "agents")
    try:
        proc = agents.start(*_agent_args(tls_broker, certs, "prov-c", "rogue-ca"))
        wait_until(lambda: "certificate verify failed" in agents.log_of(proc), timeout_s=30)
        assert proc.poll() is None, agents.log_of(proc)
        assert "Traceback" not in agents.log_of(proc)
    finally:
        agents.kill_all()
        tls_broker.stop()

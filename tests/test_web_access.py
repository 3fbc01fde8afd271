"""Access control of the aggregator's HTTP API (DESIGN §12): ``--web-config`` and ``writers``.

A real aggregator (``serve`` on a free port) with a web config in the format of Prometheus
exporters: basic auth against bcrypt hashes, TLS from a throwaway CA, client certificates, the
demo's fault API as the thing to write to, security headers on every answer.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from agents.broker import parse_broker_url
from agents.errors import ConfigError
from monitor.config import parse_aggregator_config
from monitor.demo.faults import build_demo_app
from monitor.registry import load_registry
from monitor.service.access import PasswordCheck, exposure_warning
from monitor.service.web_config import load_web_config
from monitor.simulation.federation import Simulator
from monitor.status.palette import STATUS_COLOURS
from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.certificates import authority, client_context, issue
from tests.colours import css_rgb
from tests.conftest import REPO
from tests.monitoring_stack import Prometheus
from tests.services import free_port, wait_until
from tests.test_alert_rules import secured_scrape_job

pytestmark = pytest.mark.integration

PASSWORDS = {"prometheus": "scrape-secret", "operator": "change-things", "viewer": "look-only"}
HASHES = {
    user: bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    for user, password in PASSWORDS.items()
}
EVERY_KIND_OF_PATH = (
    "/",
    "/metrics",
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/api/v1/centers",
    "/api/v1/topology",
    "/api/v1/events",
    "/api/v1/events/stream",
    "/api/v1/demo/faults",
    "/static/app.js",
    "/static/palette.css",
    "/no/such/page",
)


@dataclass
class Answer:
    """Status, headers and body of one HTTP exchange."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def call(
    url: str,
    *,
    method: str = "GET",
    user: str | None = None,
    password: str | None = None,
    context: ssl.SSLContext | None = None,
    body: Any = None,
    read: bool = True,
) -> Answer:
    """One request (basic auth if ``user``); HTTP errors are answers, TLS failures raise."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if user is not None:
        token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return Answer(response.status, response.headers, response.read() if read else b"")
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, exc.headers, exc.read())


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A CA, the aggregator's certificate for 127.0.0.1, clients of that CA and of a rogue one."""
    directory = tmp_path / "pki"
    directory.mkdir()
    authority(directory, "ca")
    authority(directory, "rogue-ca")
    issue(directory, "aggregator", "ca", ip_san=True)
    issue(directory, "prometheus", "ca", ip_san=True)  # SAN IP:127.0.0.1
    issue(directory, "operator", "ca")  # no SAN
    issue(directory, "intruder", "rogue-ca")
    return directory


def write_web_config(directory: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as ``directory/web.yml``."""
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def tls_section(pki: Path, **extra: Any) -> dict[str, Any]:
    """``tls_server_config`` with the aggregator's certificate, file names relative to ``pki``."""
    return {"cert_file": "aggregator.crt", "key_file": "aggregator.key", **extra}


@contextmanager
def protected(
    tmp_path: Path,
    web: dict[str, Any] | None,
    *,
    writers: tuple[str, ...] = (),
    directory: Path | None = None,
) -> Iterator[str]:
    """An aggregator with this web config (``None``: none) and the demo's fault API; its URL."""
    topology = write_small_topology(tmp_path)
    overrides: dict[str, Any] = {"writers": writers}
    if web is not None:
        overrides["web_config"] = str(write_web_config(directory or tmp_path, web))
    config = aggregator_config(f"mqtt://127.0.0.1:{free_port()}", topology, **overrides)
    registry = load_registry(topology)
    simulator = Simulator(registry, parse_broker_url(config.broker), seed=1)
    scheme = "https" if web is not None and "tls_server_config" in web else "http"
    with LiveAggregator(config, registry, demo_app=build_demo_app(simulator)) as live:
        assert live.aggregator is not None
        yield f"{scheme}://127.0.0.1:{live.aggregator.bound_port}"


def test_without_credentials_every_endpoint_answers_401_with_a_challenge(tmp_path: Path) -> None:
    """Metrics, health, API, page, static files, SSE, demo and unknown paths all ask for auth."""
    with protected(tmp_path, {"basic_auth_users": HASHES}) as url:
        for path in EVERY_KIND_OF_PATH:
            answer = call(url + path)
            assert answer.status == 401, path
            assert answer.headers["WWW-Authenticate"].startswith("Basic realm="), path
            assert answer.json() == {"error": "authentication required"}, path


def test_the_right_password_is_let_in_and_a_wrong_one_or_an_unknown_user_is_not(
    tmp_path: Path,
) -> None:
    """200 with a user's password; 401 with a wrong password, an unknown user, or junk."""
    with protected(tmp_path, {"basic_auth_users": HASHES}) as url:
        centers = url + "/api/v1/centers"
        assert call(centers, user="viewer").status == 200
        assert call(centers, user="viewer").json()["count"] == 4
        assert call(centers, user="viewer", password="look-only!").status == 401
        assert call(centers, user="operator", password="look-only").status == 401
        assert call(centers, user="nobody", password="look-only").status == 401
        request = urllib.request.Request(centers, headers={"Authorization": "Basic !!!"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        refused.value.close()
        assert refused.value.code == 401


def test_prometheus_style_scrape_with_basic_auth_gets_the_metrics(tmp_path: Path) -> None:
    """``/metrics`` with basic auth answers the exposition, over and over."""
    with protected(tmp_path, {"basic_auth_users": HASHES}) as url:
        for _ in range(3):
            answer = call(url + "/metrics", user="prometheus")
            assert answer.status == 200
            assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert b"dcmon_aggregator_info{" in answer.body


def test_https_with_the_ca_that_signed_the_aggregator(pki: Path, tmp_path: Path) -> None:
    """A client trusting the test CA gets 200 over https; one that does not fails the handshake."""
    web = {"tls_server_config": tls_section(pki), "basic_auth_users": HASHES}
    with protected(tmp_path, web, directory=pki) as url:
        assert url.startswith("https://")
        trusting = ssl.create_default_context(cafile=pki / "ca.crt")
        answer = call(url + "/healthz", user="prometheus", context=trusting)
        assert answer.status == 200
        with pytest.raises(urllib.error.URLError) as refused:
            call(url + "/healthz", user="prometheus", context=ssl.create_default_context())
        assert isinstance(refused.value.reason, ssl.SSLCertVerificationError)
        with pytest.raises(http.client.RemoteDisconnected):  # plain HTTP to the TLS port
            call(url.replace("https://", "http://") + "/healthz", user="prometheus")


def handshake(url: str, context: ssl.SSLContext) -> None:
    """A TLS 1.2 handshake alone with the server of ``url`` (1.2: a refusal shows in it)."""
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    host, port = url.removeprefix("https://").rsplit(":", 1)
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host),
    ):
        pass


def test_client_certificates_are_required_with_require_and_verify(
    pki: Path, tmp_path: Path
) -> None:
    """RequireAndVerifyClientCert: no certificate or a rogue CA's fails the TLS handshake; the
    CA's own client certificate gets 200 (without a password: the certificate authenticates)."""
    web = {
        "tls_server_config": tls_section(
            pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt"
        )
    }
    with protected(tmp_path, web, directory=pki) as url:
        contexts: tuple[Callable[[], ssl.SSLContext], ...] = (
            lambda: ssl.create_default_context(cafile=pki / "ca.crt"),  # no certificate
            lambda: client_context(pki, "intruder"),  # signed by another CA
        )
        for refused in contexts:
            with pytest.raises(ssl.SSLError):
                handshake(url, refused())
            # TLS 1.3 clients learn it after their side of the handshake: the server hangs up.
            with pytest.raises(http.client.RemoteDisconnected):
                call(url + "/api/v1/centers", context=refused())
        handshake(url, client_context(pki, "operator"))
        answer = call(url + "/api/v1/centers", context=client_context(pki, "operator"))
        assert answer.status == 200
        assert answer.json()["count"] == 4


def test_client_allowed_sans_refuses_a_valid_certificate_naming_another_san(
    pki: Path, tmp_path: Path
) -> None:
    """With client_allowed_sans, a CA-signed certificate without a listed SAN gets 403."""
    web = {
        "tls_server_config": tls_section(
            pki,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file="ca.crt",
            client_allowed_sans=["127.0.0.1"],
        )
    }
    with protected(tmp_path, web, directory=pki) as url:
        allowed = call(url + "/metrics", context=client_context(pki, "prometheus"))
        assert allowed.status == 200
        refused = call(url + "/metrics", context=client_context(pki, "operator"))
        assert refused.status == 403
        assert "client_allowed_sans" in refused.json()["error"]


def test_a_write_needs_a_user_listed_as_writer(tmp_path: Path) -> None:
    """POST/DELETE on the demo's faults: 403 with a JSON error for a reader, done for a writer;
    a reader still reads."""
    with protected(tmp_path, {"basic_auth_users": HASHES}, writers=("operator",)) as url:
        faults = url + "/api/v1/demo/faults"
        cut = {"fault": "cut", "args": ["ndc-a", "ndc-b"]}
        refused = call(faults, method="POST", body=cut, user="viewer")
        assert refused.status == 403
        assert refused.json()["error"].startswith("user 'viewer' may not change anything")
        assert call(faults, method="DELETE", user="prometheus").status == 403
        assert call(faults, user="viewer").json()["active"] == []
        done = call(faults, method="POST", body=cut, user="operator")
        assert done.status == 200
        assert done.json()["active"] == [{"fault": "cut", "args": ["ndc-a", "ndc-b"]}]
        assert call(faults, method="DELETE", user="operator").json()["active"] == []


def test_a_reader_may_ask_a_what_if_but_not_inject_a_fault(tmp_path: Path) -> None:
    """POST /api/v1/whatif only asks a question (DESIGN §10, §12): a reader gets its answer; the
    same reader's POST of a fault stays refused."""
    with protected(tmp_path, {"basic_auth_users": HASHES}, writers=("operator",)) as url:
        # No broker here (the monitor is blind): ask from the healthy base.
        question = {"down": ["ndc-b"], "base": "healthy"}
        asked = call(url + "/api/v1/whatif", method="POST", body=question, user="viewer")
        assert asked.status == 200
        assert asked.json()["scenario"]["down"] == ["ndc-b"]
        fault = {"fault": "down", "args": ["ndc-b"]}
        assert (
            call(url + "/api/v1/demo/faults", method="POST", body=fault, user="viewer").status
            == 403
        )
        assert call(url + "/api/v1/whatif", method="POST", body={"down": []}).status == 401


def test_with_certificates_only_nobody_may_write(pki: Path, tmp_path: Path) -> None:
    """Client certificates authenticate reads; a write without a basic-auth writer is 403."""
    web = {
        "tls_server_config": tls_section(
            pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt"
        )
    }
    with protected(tmp_path, web, directory=pki) as url:
        context = client_context(pki, "operator")
        answer = call(url + "/api/v1/demo/faults", method="DELETE", context=context)
        assert answer.status == 403
        assert "without basic auth" in answer.json()["error"]


def test_without_a_web_config_writes_are_open_as_before(tmp_path: Path) -> None:
    """No web config: the demo's fault API takes a write without credentials (loopback only)."""
    with protected(tmp_path, None) as url:
        assert call(url + "/api/v1/demo/faults", method="DELETE").status == 200


@pytest.mark.parametrize("web", [None, {"basic_auth_users": HASHES}])
def test_security_headers_on_every_answer_and_no_version_in_server(
    tmp_path: Path, web: dict[str, Any] | None
) -> None:
    """200, 401, 404, static, streamed metrics and SSE all carry nosniff, DENY, the CSP and
    ``Server: dcmon``, with or without a web config."""
    with protected(tmp_path, web) as url:
        user = "viewer" if web is not None else None
        answers = {
            "200": call(url + "/api/v1/centers", user=user),
            "404": call(url + "/no/such/page", user=user),
            "static": call(url + "/static/app.js", user=user),
            "page": call(url + "/", user=user),
            "metrics": call(url + "/metrics", user=user),
            "sse": call(url + "/api/v1/events/stream", user=user, read=False),
        }
        if web is not None:
            answers["401"] = call(url + "/api/v1/centers")
        expected_status = {"404": 404, "401": 401}
        for kind, answer in answers.items():
            assert answer.status == expected_status.get(kind, 200), kind
            assert answer.headers["X-Content-Type-Options"] == "nosniff", kind
            assert answer.headers["X-Frame-Options"] == "DENY", kind
            assert answer.headers["Content-Security-Policy"].startswith("default-src 'self'"), kind
            assert answer.headers.get_all("Server") == ["dcmon"], kind
            assert "aiohttp" not in str(answer.headers).lower(), kind


def test_the_web_configs_headers_are_added_and_override_the_defaults(tmp_path: Path) -> None:
    """``http_server_config.headers`` sets HSTS, may relax X-Frame-Options to sameorigin, and
    unsets a header given blank (as exporter-toolkit does)."""
    web = {
        "basic_auth_users": HASHES,
        "http_server_config": {
            "headers": {
                "Strict-Transport-Security": "max-age=31536000",
                "X-Frame-Options": "sameorigin",
                "Content-Security-Policy": "",
            }
        },
    }
    with protected(tmp_path, web) as url:
        answer = call(url + "/healthz")
        assert answer.status == 401
        assert answer.headers["Strict-Transport-Security"] == "max-age=31536000"
        assert answer.headers["X-Frame-Options"] == "sameorigin"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert "Content-Security-Policy" not in answer.headers


def test_serving_without_a_web_config_logs_one_unauthenticated_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """No web config: one WARNING says the API is unauthenticated and on loopback only."""
    with (
        caplog.at_level(logging.WARNING, logger="monitor.service.serve"),
        protected(tmp_path, None) as url,
    ):
        port = url.rsplit(":", 1)[1]
    warnings = [r.getMessage() for r in caplog.records if r.name == "monitor.service.serve"]
    assert warnings == [
        f"the HTTP API on http://127.0.0.1:{port} is unauthenticated and unencrypted "
        "(no --web-config); it listens on loopback only"
    ]


def test_serving_with_basic_auth_logs_no_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A web config with users: nothing to warn about."""
    with (
        caplog.at_level(logging.WARNING, logger="monitor.service.serve"),
        protected(tmp_path, {"basic_auth_users": HASHES}),
    ):
        pass
    assert [r for r in caplog.records if r.name == "monitor.service.serve"] == []


def test_the_warning_says_clearly_when_the_address_is_not_loopback() -> None:
    """Listening on 0.0.0.0 without a web config is called out as reachable by anyone."""
    warning = exposure_warning(None, "0.0.0.0", 9108)
    assert warning == (
        "the HTTP API on http://0.0.0.0:9108 is unauthenticated and unencrypted "
        "(no --web-config), and 0.0.0.0 is NOT a loopback address: anyone who can reach this "
        "port reads everything dcmon knows"
    )


async def test_a_remembered_password_costs_no_second_bcrypt() -> None:
    """Ten scrapes with the right password cost one bcrypt; each wrong password or unknown user
    costs one (the unknown one against a decoy hash), and is never remembered."""
    check = PasswordCheck(HASHES)
    for _ in range(10):
        assert await check.check("prometheus", "scrape-secret")
    assert check.bcrypt_runs == 1
    assert not await check.check("prometheus", "scrape-secret2")
    assert not await check.check("prometheus", "scrape-secret2")
    assert not await check.check("nobody", "scrape-secret")
    assert check.bcrypt_runs == 4
    assert await check.check("prometheus", "scrape-secret")
    assert check.bcrypt_runs == 4
    assert not await check.check("prometheus", "x" * 100)  # past bcrypt's 72 bytes


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {
                "tls_server_config": {
                    "cert_file": "a.crt",
                    "key_file": "a.key",
                    "client_auth_type": "Foo",
                }
            },
            "web.yml: tls_server_config.client_auth_type: 'Foo' is not one of NoClientCert, "
            "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
            "RequireAndVerifyClientCert",
        ),
        ({"basic_auth_user": {}}, "web.yml: basic_auth_user: unknown key (check the spelling)"),
        (
            {"basic_auth_users": {"alice": "secret"}},
            "web.yml: basic_auth_users.alice: is not a bcrypt hash",
        ),
        (
            {"tls_server_config": {"cert_file": "aggregator.crt"}},
            "web.yml: tls_server_config.key_file: required to serve https",
        ),
        (
            {"tls_server_config": {"cert_file": "missing.crt", "key_file": "aggregator.key"}},
            "tls_server_config.cert_file: ",
        ),
        (
            {"tls_server_config": tls_section(Path(), min_version="TLS14")},
            "web.yml: tls_server_config.min_version: 'TLS14' is not one of TLS10, TLS11, TLS12, "
            "TLS13",
        ),
        (
            {"tls_server_config": tls_section(Path(), client_auth_type="RequireAnyClientCert")},
            "tls_server_config.client_auth_type: 'RequireAnyClientCert' is not supported by dcmon",
        ),
        (
            {"tls_server_config": tls_section(Path(), client_auth_type="VerifyClientCertIfGiven")},
            "tls_server_config.client_ca_file: required with client_auth_type "
            "VerifyClientCertIfGiven",
        ),
        (
            {"tls_server_config": tls_section(Path(), client_ca_file="ca.crt")},
            "tls_server_config.client_ca_file: a client CA is given but client_auth_type is "
            "NoClientCert",
        ),
        (
            {"tls_server_config": tls_section(Path(), cert_file="ca.crt")},
            "web.yml: tls_server_config.cert_file: cannot use",
        ),
        (
            {"http_server_config": {"headers": {"X-Powered-By": "dcmon"}}},
            "web.yml: http_server_config.headers.X-Powered-By: this header cannot be configured",
        ),
        (
            {"http_server_config": {"headers": {"X-Frame-Options": "allow"}}},
            "http_server_config.headers.X-Frame-Options: 'allow' is not one of deny, sameorigin",
        ),
        (
            {"tls_server_config": tls_section(Path(), cipher_suites=["TLS_AES_128_GCM_SHA256"])},
            "web.yml: tls_server_config.cipher_suites: not supported by dcmon",
        ),
        ({"rate_limit": {"interval": "1s", "burst": 5}}, "web.yml: rate_limit: rate limiting"),
    ],
)
def test_a_bad_web_config_names_file_and_field(
    pki: Path, document: dict[str, Any], expected: str
) -> None:
    """Every mistake in a web config is one ConfigError naming the file and the field."""
    path = write_web_config(pki, document)
    with pytest.raises(ConfigError) as info:
        load_web_config(path)
    assert expected in str(info.value)
    assert str(info.value).startswith(str(path))


def dcmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m monitor ARGS`` from the repository (``env`` added to the environment)."""
    clean = {k: v for k, v in os.environ.items() if k != "DCMON_PASSWORD"}
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=REPO,
        env={**clean, "PYTHONPATH": str(REPO), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_dcmon_aggregator_with_a_bad_web_config_exits_1_with_one_line(tmp_path: Path) -> None:
    """``dcmon aggregator --web-config web.yml`` with a bad value: one line, exit status 1."""
    path = write_web_config(
        tmp_path,
        {"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "Foo"}},
    )
    result = dcmon("aggregator", "--web-config", str(path), "--listen", "127.0.0.1:0")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dcmon aggregator: {path}: tls_server_config.client_auth_type: 'Foo' is not one of "
        "NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
        "RequireAndVerifyClientCert"
    ]


def test_dcmon_aggregator_refuses_a_writer_who_is_not_a_user(tmp_path: Path) -> None:
    """A writer missing from basic_auth_users is named, before anything starts."""
    web = write_web_config(tmp_path, {"basic_auth_users": {"viewer": HASHES["viewer"]}})
    config = tmp_path / "aggregator.yaml"
    config.write_text(yaml.safe_dump({"web_config": str(web), "writers": ["operator"]}), "utf-8")
    result = dcmon("aggregator", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"dcmon aggregator: {config}: writers[0]: 'operator' is not one of the web config's "
        "basic_auth_users"
    ]


def test_check_config_recognises_a_web_config(pki: Path) -> None:
    """``dcmon check-config web.yml`` says what the file sets up."""
    path = write_web_config(
        pki,
        {
            "tls_server_config": tls_section(
                pki, client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt"
            ),
            "basic_auth_users": HASHES,
        },
    )
    result = dcmon("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{path}: OK — web config: https, client certificates required, 3 basic-auth users"
    )


def test_the_shipped_example_web_config_is_valid(tmp_path: Path) -> None:
    """config/web-config.example.yml loads once its certificate files exist."""
    text = (REPO / "config" / "web-config.example.yml").read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    tls = document["tls_server_config"]
    authority(tmp_path, "ca")
    issue(tmp_path, "server", "ca", ip_san=True)
    for field, made in (("cert_file", "server.crt"), ("key_file", "server.key")):
        (tmp_path / Path(tls[field]).name).write_bytes((tmp_path / made).read_bytes())
        tls[field] = Path(tls[field]).name
    if "client_ca_file" in tls:
        (tmp_path / Path(tls["client_ca_file"]).name).write_bytes(
            (tmp_path / "ca.crt").read_bytes()
        )
        tls["client_ca_file"] = Path(tls["client_ca_file"]).name
    config = load_web_config(write_web_config(tmp_path, document))
    assert config.scheme == "https"
    assert config.users


def test_dcmon_status_talks_to_a_protected_aggregator_over_https(pki: Path, tmp_path: Path) -> None:
    """``dcmon status --user U --ca-file CA`` with DCMON_PASSWORD reads the centers; without
    credentials it gets one line saying HTTP 401 and how to give them."""
    web = {"tls_server_config": tls_section(pki), "basic_auth_users": HASHES}
    with protected(tmp_path, web, directory=pki) as url:
        flags = ("--url", url, "--ca-file", str(pki / "ca.crt"))
        allowed = dcmon("status", *flags, "--user", "viewer", env={"DCMON_PASSWORD": "look-only"})
        assert allowed.returncode == 0, allowed.stderr
        assert allowed.stdout.startswith("4 centers: ")
        refused = dcmon("status", *flags)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"dcmon status: {url}/api/v1/centers: HTTP 401: authentication required "
            "(give --user, with DCMON_PASSWORD or --password-file)"
        ]
        untrusted = dcmon("status", "--url", url, "--user", "viewer", env={"DCMON_PASSWORD": "x"})
        assert untrusted.returncode == 1
        assert "give its CA with --ca-file" in untrusted.stderr


def test_dcmon_fault_writes_as_a_writer_with_a_password_file(tmp_path: Path) -> None:
    """``dcmon fault`` with ``--user operator --password-file`` injects; as a reader it gets 403."""
    with protected(tmp_path, {"basic_auth_users": HASHES}, writers=("operator",)) as url:
        secret = tmp_path / "operator.password"
        secret.write_text("change-things\n", encoding="utf-8")
        done = dcmon(
            "fault", "cut", "ndc-a", "prov-c", "--url", url, "--user", "operator",
            "--password-file", str(secret),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "active faults: cut ndc-a prov-c" in done.stdout
        refused = dcmon("fault", "heal", "--url", url, "--user", "viewer",
                        env={"DCMON_PASSWORD": "look-only"})  # fmt: skip
        assert refused.returncode == 1
        assert "HTTP 403: user 'viewer' may not change anything" in refused.stderr


CSP_PROBE = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  e => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


def test_the_status_page_works_in_chromium_over_https_with_basic_auth_under_its_csp(
    pki: Path, tmp_path: Path
) -> None:
    """Headless Chromium logs in, draws the map, connects the event stream and colours the
    legend, and the Content-Security-Policy blocks nothing the page does."""
    from playwright.sync_api import sync_playwright

    web = {"tls_server_config": tls_section(pki), "basic_auth_users": HASHES}
    with protected(tmp_path, web, directory=pki) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = browser.new_context(
                http_credentials={"username": "viewer", "password": "look-only"},
                ignore_https_errors=True,  # the test CA is not in Chromium's store
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.add_init_script(CSP_PROBE)
            page.goto(url + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=20_000)
            page.wait_for_function(
                "document.getElementById('stream-state').textContent === 'live'", timeout=10_000
            )
            assert page.locator("#map [data-center]").count() == 4
            swatches = page.eval_on_selector_all(
                "[data-legend-status]", "els => els.map(e => getComputedStyle(e).fill)"
            )
            assert swatches[0] == css_rgb(STATUS_COLOURS["connected"])
            assert page.evaluate("window.__violations") == []
            assert errors == []
        finally:
            browser.close()


def test_prometheus_scrapes_the_aggregator_with_the_shipped_https_job(
    pki: Path, tmp_path: Path
) -> None:
    """Real Prometheus, with prometheus.yml's commented https job (basic auth, CA, client
    certificate), scrapes an aggregator that requires all three: ``up`` is 1, metrics arrive."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    authority(secrets, "dcmon_ca")
    issue(secrets, "aggregator", "dcmon_ca", ip_san=True)
    issue(secrets, "prometheus", "dcmon_ca")
    (secrets / "dcmon_scrape_password").write_text("scrape-secret\n", encoding="utf-8")
    job = yaml.safe_load(
        yaml.safe_dump(secured_scrape_job()).replace("/run/secrets/", f"{secrets}/")
    )
    web = {
        "tls_server_config": tls_section(
            secrets, client_auth_type="RequireAndVerifyClientCert", client_ca_file="dcmon_ca.crt"
        ),
        "basic_auth_users": {job["basic_auth"]["username"]: HASHES["prometheus"]},
    }
    prometheus = Prometheus(tmp_path / "prometheus")
    with protected(tmp_path, web, directory=secrets) as url:
        try:
            prometheus.start(url.removeprefix("https://"), None, job=job)
            wait_until(
                lambda: [s["value"][1] for s in prometheus.query('up{job="dcmon"}')] == ["1"],
                timeout_s=30,
            )
            assert prometheus.query('dcmon_aggregator_info{job="dcmon"}')
        finally:
            prometheus.stop()


@pytest.mark.parametrize(
    ("writers", "expected"),
    [
        (["operator", "operator"], "agg.yaml: writers[1]: 'operator' is listed twice"),
        ([""], "agg.yaml: writers[0]: a user name may not be empty"),
    ],
)
def test_a_bad_writers_list_names_the_entry(writers: list[str], expected: str) -> None:
    """``writers`` in the aggregator config: a duplicate or empty name is one clear line."""
    with pytest.raises(ConfigError) as info:
        parse_aggregator_config({"writers": writers}, "agg.yaml")
    assert str(info.value) == expected


def test_tls_without_users_or_required_certificates_is_called_unauthenticated(pki: Path) -> None:
    """A web config that only encrypts is not mistaken for access control."""
    web = load_web_config(write_web_config(pki, {"tls_server_config": tls_section(pki)}))
    assert exposure_warning(web, "127.0.0.1", 9108, "web.yml") == (
        "the HTTP API on https://127.0.0.1:9108 is unauthenticated: web.yml lists no "
        "basic_auth_users and does not require client certificates; it listens on loopback only"
    )


def test_maintenance_and_reload_need_a_writer_whose_name_becomes_the_author(
    tmp_path: Path,
) -> None:
    """Declaring or ending a maintenance window and reloading are writes: 403 for a reader, done
    for a writer, whose basic-auth name is the window's author; a reader still lists windows."""
    with protected(tmp_path, {"basic_auth_users": HASHES}, writers=("operator",)) as url:
        windows = url + "/api/v1/maintenance"
        window = {"center": "prov-d", "end": time.time() + 3600, "reason": "fibre splice"}
        refused = call(windows, method="POST", body=window, user="viewer")
        assert refused.status == 403
        assert refused.json()["error"].startswith("user 'viewer' may not change anything")
        assert call(url + "/-/reload", method="POST", user="viewer").status == 403
        assert call(url + "/-/reload", method="POST").status == 401
        declared = call(windows, method="POST", body=window, user="operator")
        assert declared.status == 201
        entry = declared.json()["window"]
        assert entry["author"] == "operator"
        assert call(windows, user="viewer").json()["windows"] == [entry]
        assert call(f"{windows}/{entry['id']}", method="DELETE", user="viewer").status == 403
        ended = call(f"{windows}/{entry['id']}", method="DELETE", user="operator")
        assert ended.json()["window"]["state"] == "ended"
        assert call(url + "/-/reload", method="POST", user="operator").json()["status"] == "success"

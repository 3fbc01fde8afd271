"""Broker addresses (``mqtt://`` / ``mqtts://`` URLs), credentials, and the reconnect backoff."""

from __future__ import annotations

import os
import random
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import msgspec

from agents.errors import ConfigError

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
PASSWORD_ENV = "DCMON_MQTT_PASSWORD"
USERNAME_ENV = "DCMON_MQTT_USERNAME"


class TlsFiles(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Files for a TLS connection: CA bundle, and optionally a client certificate and key.

    The one shape of TLS file settings: the aggregator's ``tls:`` section decodes into it, the
    agent's ``ca_file``/``cert_file``/``key_file`` settings and both commands' flags build it.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where and how to reach the broker."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    tls_files: TlsFiles = field(default_factory=TlsFiles)

    @property
    def url(self) -> str:
        """The address as a URL, without credentials (safe to log)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """A TLS context for ``mqtts://``, or ``None`` for plain MQTT."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.tls_files.ca_file)
        if self.tls_files.cert_file:
            context.load_cert_chain(self.tls_files.cert_file, self.tls_files.key_file)
        return context


def parse_broker_url(
    url: str,
    *,
    source: str = "--broker",
    username: str | None = None,
    password: str | None = None,
    password_file: str | None = None,
    tls_files: TlsFiles | None = None,
) -> BrokerAddress:
    """Parse ``mqtt://[user[:pass]@]host[:port]`` or ``mqtts://…``.

    Credentials come, in order of precedence, from the explicit arguments, the password file,
    the URL, then the ``DCMON_MQTT_USERNAME`` / ``DCMON_MQTT_PASSWORD`` environment variables.

    Raises:
        ConfigError: naming ``source`` when the URL or the password file is unusable.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(source, "", f"{url!r} is not a valid broker URL ({exc})") from exc
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError(
            source, "", f"{url!r}: the scheme must be mqtt:// or mqtts://, not {parts.scheme!r}"
        )
    if not parts.hostname:
        raise ConfigError(source, "", f"{url!r} has no host")
    if parts.path not in ("", "/"):
        raise ConfigError(source, "", f"{url!r}: a broker URL takes no path")
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(password_file, "", f"cannot read password file ({exc})") from exc
    user = username or (unquote(parts.username) if parts.username else None)
    user = user or os.environ.get(USERNAME_ENV)
    secret = password or (unquote(parts.password) if parts.password else None)
    secret = secret or os.environ.get(PASSWORD_ENV)
    return BrokerAddress(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[parts.scheme],
        tls=parts.scheme == "mqtts",
        username=user,
        password=secret,
        tls_files=tls_files or TlsFiles(),
    )


def backoff_delays(
    base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Full-jitter capped exponential backoff: ``uniform(0, min(cap, base * 2**attempt))``."""
    rand = rng or random.Random()
    attempt = 0
    while True:
        yield rand.uniform(0, min(cap_s, base_s * 2**attempt))
        attempt = min(attempt + 1, 30)

"""The web configuration of Prometheus exporters (``--web-config FILE``): TLS, users, headers.

The file format is exporter-toolkit's ``web-config.yml``, so Prometheus scrapes dcmon with its
usual ``scheme: https``, ``tls_config`` and ``basic_auth``. It is read once at start into frozen
records; as in exporter-toolkit, relative file names are relative to the web config's directory.
Settings that Python's ``ssl`` cannot honour are refused by name rather than silently weakened.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Final, Literal

import msgspec

from agents.configfile import convert, read_yaml
from agents.errors import ConfigError

CLIENT_AUTH_TYPES: Final = (
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
# "RequireClientCert" is exporter-toolkit's old spelling of RequireAnyClientCert.
ClientAuthType = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "RequireClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
VERIFY_MODES: Final = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TlsVersionName = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
TLS_VERSIONS: Final = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
# The headers exporter-toolkit lets a web config set, with the values allowed (any if empty).
CONFIGURABLE_HEADERS: Final[dict[str, tuple[str, ...]]] = {
    "Strict-Transport-Security": (),
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": (),
    "Content-Security-Policy": (),
}
BCRYPT_HASH: Final = re.compile(r"\$2[abxy]?\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}")
HASH_HINT: Final = "make one with: htpasswd -nBC 10 '' | tr -d ':\\n'"
TOP_LEVEL_KEYS: Final = frozenset(
    {"tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"}
)


class TlsServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``tls_server_config``: the server's certificate, and whether clients must present one."""

    cert_file: str = ""
    key_file: str = ""
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: str = ""
    client_allowed_sans: tuple[str, ...] | None = None
    min_version: TlsVersionName = "TLS12"
    max_version: TlsVersionName = "TLS13"
    prefer_server_cipher_suites: bool = True
    # Accepted so that a Prometheus web config decodes, refused unless empty (see _check_tls).
    cert: str = ""
    key: str = ""
    client_ca: str = ""
    cipher_suites: tuple[str, ...] = ()
    curve_preferences: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        """Whether any TLS setting is given (exporter-toolkit's rule for serving https)."""
        return bool(
            self.cert_file
            or self.key_file
            or self.cert
            or self.key
            or self.client_ca_file
            or self.client_ca
            or self.client_auth_type != "NoClientCert"
        )

    @property
    def verifies_clients(self) -> bool:
        """Whether a client certificate, if presented, is checked against the client CA."""
        return self.client_auth_type in ("VerifyClientCertIfGiven", "RequireAndVerifyClientCert")

    @property
    def requires_client_certificate(self) -> bool:
        """Whether every connection must present a certificate signed by the client CA."""
        return self.client_auth_type == "RequireAndVerifyClientCert"


class HttpServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``http_server_config``: extra response headers (``http2`` is accepted; dcmon has none)."""

    http2: bool = True
    headers: dict[str, str] | None = None


class RateLimit(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``rate_limit``: accepted only when disabled (an interval of 0)."""

    interval: str | float = 0
    burst: int = 0


class WebConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A validated web configuration, its file names absolute."""

    tls_server_config: TlsServerConfig | None = None
    http_server_config: HttpServerConfig | None = None
    basic_auth_users: dict[str, str] | None = None
    rate_limit: RateLimit | None = None

    @property
    def tls(self) -> TlsServerConfig | None:
        """The TLS settings, or ``None`` for plain HTTP."""
        tls = self.tls_server_config
        return tls if tls is not None and tls.enabled else None

    @property
    def users(self) -> dict[str, str]:
        """User name → bcrypt hash (empty: no basic authentication)."""
        return dict(self.basic_auth_users or {})

    @property
    def headers(self) -> dict[str, str]:
        """The configured extra response headers."""
        config = self.http_server_config
        return dict(config.headers or {}) if config is not None else {}

    @property
    def scheme(self) -> str:
        """``https`` or ``http``."""
        return "https" if self.tls is not None else "http"

    def ssl_context(self, source: str = "web config") -> ssl.SSLContext | None:
        """The server's TLS context, or ``None`` for plain HTTP (``ConfigError`` naming the field).

        Args:
            source: the file name used in error messages.
        """
        tls = self.tls
        if tls is None:
            return None
        where = "tls_server_config"
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = TLS_VERSIONS[tls.min_version]
        context.maximum_version = TLS_VERSIONS[tls.max_version]
        if not tls.prefer_server_cipher_suites:
            context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
        for field in ("cert_file", "key_file", "client_ca_file"):
            name = getattr(tls, field)
            if name and not Path(name).is_file():
                raise ConfigError(source, f"{where}.{field}", f"{name}: file not found")
        try:
            context.load_cert_chain(tls.cert_file, tls.key_file)
        except (OSError, ssl.SSLError) as exc:
            # OpenSSL's "PEM lib" carries no reason: one of the files is not what it should be.
            reason = _reason(exc) if getattr(exc, "reason", None) else "not PEM, or not a pair"
            raise ConfigError(
                source,
                f"{where}.cert_file",
                f"cannot use {tls.cert_file} with the key {tls.key_file} ({reason})",
            ) from exc
        context.verify_mode = VERIFY_MODES[tls.client_auth_type]
        if tls.client_ca_file or tls.client_ca:
            field = "client_ca_file" if tls.client_ca_file else "client_ca"
            try:
                if tls.client_ca_file:
                    context.load_verify_locations(cafile=tls.client_ca_file)
                else:
                    context.load_verify_locations(cadata=tls.client_ca)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    source, f"{where}.{field}", f"cannot load the client CA ({_reason(exc)})"
                ) from exc
        return context

    def summary(self) -> str:
        """One line: scheme, client certificates, users and extra headers."""
        tls = self.tls
        parts = [self.scheme]
        if tls is not None and tls.verifies_clients:
            parts.append(
                "client certificates required"
                if tls.requires_client_certificate
                else "client certificates checked if given"
            )
        users = self.users
        parts.append(f"{len(users)} basic-auth users" if users else "no basic auth")
        if self.headers:
            parts.append(f"headers {', '.join(sorted(self.headers))}")
        return ", ".join(parts)


def load_web_config(path: str | Path) -> WebConfig:
    """Read, validate and resolve a web config file, and try its certificates once.

    Raises:
        ConfigError: naming the file and the field, for the first problem found.
    """
    path = Path(path)
    config = parse_web_config(read_yaml(path), str(path), directory=path.parent)
    config.ssl_context(str(path))
    return config


def parse_web_config(data: Any, source: str, *, directory: Path) -> WebConfig:
    """Validate a web config document; relative file names are taken from ``directory``."""
    if isinstance(data, dict) and not data:
        raise ConfigError(source, "", "the file is empty")
    config = convert(
        data,
        WebConfig,
        source,
        choices={
            "client_auth_type": CLIENT_AUTH_TYPES,
            "min_version": tuple(TLS_VERSIONS),
            "max_version": tuple(TLS_VERSIONS),
        },
    )
    if config.tls_server_config is not None:
        _check_tls(config.tls_server_config, source)
        config = msgspec.structs.replace(
            config, tls_server_config=_resolve(config.tls_server_config, directory)
        )
    _check_headers(config.headers, source)
    for user, hashed in config.users.items():
        if not user:
            raise ConfigError(source, "basic_auth_users", "a user name may not be empty")
        found = BCRYPT_HASH.fullmatch(hashed)
        if found is None or not 4 <= int(found.group("cost")) <= 31:
            raise ConfigError(
                source, f"basic_auth_users.{user}", f"is not a bcrypt hash ({HASH_HINT})"
            )
    if config.rate_limit is not None and config.rate_limit.interval not in (0, "0", "0s"):
        raise ConfigError(
            source, "rate_limit", "rate limiting is not supported by dcmon; remove it"
        )
    return config


def _check_tls(tls: TlsServerConfig, source: str) -> None:
    where = "tls_server_config"
    refused = {
        "cert": "inline certificates are not supported by dcmon; use cert_file",
        "key": "inline keys are not supported by dcmon; use key_file",
        "cipher_suites": "not supported by dcmon (Python's ssl names ciphers differently); "
        "remove it to use OpenSSL's defaults",
        "curve_preferences": "not supported by dcmon; remove it to use OpenSSL's defaults",
    }
    for field, problem in refused.items():
        if getattr(tls, field):
            raise ConfigError(source, f"{where}.{field}", problem)
    if not tls.enabled:
        return
    if not tls.cert_file:
        raise ConfigError(source, f"{where}.cert_file", "required to serve https")
    if not tls.key_file:
        raise ConfigError(source, f"{where}.key_file", "required to serve https")
    if tls.client_auth_type not in VERIFY_MODES:
        raise ConfigError(
            source,
            f"{where}.client_auth_type",
            f"{tls.client_auth_type!r} is not supported by dcmon: it accepts a certificate "
            "without checking who signed it; use RequireAndVerifyClientCert with client_ca_file",
        )
    has_ca = bool(tls.client_ca_file or tls.client_ca)
    if has_ca and not tls.verifies_clients:
        raise ConfigError(
            source,
            f"{where}.client_ca_file",
            "a client CA is given but client_auth_type is NoClientCert: "
            "set client_auth_type to RequireAndVerifyClientCert",
        )
    if tls.verifies_clients and not has_ca:
        raise ConfigError(
            source,
            f"{where}.client_ca_file",
            f"required with client_auth_type {tls.client_auth_type} "
            "(the CA that signs the clients' certificates)",
        )
    if tls.client_allowed_sans is not None and not tls.requires_client_certificate:
        raise ConfigError(
            source,
            f"{where}.client_allowed_sans",
            "needs client_auth_type RequireAndVerifyClientCert (else there may be no "
            "certificate to match)",
        )
    if TLS_VERSIONS[tls.min_version] > TLS_VERSIONS[tls.max_version]:
        raise ConfigError(source, f"{where}.min_version", f"{tls.min_version} is above max_version")


def _resolve(tls: TlsServerConfig, directory: Path) -> TlsServerConfig:
    def absolute(name: str) -> str:
        return str(directory / name) if name else ""

    return msgspec.structs.replace(
        tls,
        cert_file=absolute(tls.cert_file),
        key_file=absolute(tls.key_file),
        client_ca_file=absolute(tls.client_ca_file),
    )


def _check_headers(headers: dict[str, str], source: str) -> None:
    for name, value in headers.items():
        where = f"http_server_config.headers.{name}"
        if name not in CONFIGURABLE_HEADERS:
            raise ConfigError(
                source,
                where,
                f"this header cannot be configured; one of {', '.join(CONFIGURABLE_HEADERS)}",
            )
        allowed = CONFIGURABLE_HEADERS[name]
        if allowed and value not in allowed:
            raise ConfigError(source, where, f"{value!r} is not one of {', '.join(allowed)}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return str(exc)

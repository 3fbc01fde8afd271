"""Who may read and change what over HTTP (DESIGN §12): aiohttp middleware and a header hook.

- Every response carries ``X-Content-Type-Options``, ``X-Frame-Options``, a
  Content-Security-Policy allowing only the page's own files, the web config's extra headers,
  and ``Server: dcmon`` instead of aiohttp's version.
- With a web config listing ``basic_auth_users``, every request needs one of them (401 with
  ``WWW-Authenticate`` otherwise); with ``client_allowed_sans``, the client certificate must
  name one of them (403).
- Under a web config, a write (any method but GET, HEAD and OPTIONS, except the POSTs that only
  ask a question: ``/api/v1/whatif``) needs a user listed in the aggregator config's ``writers``
  (403 otherwise). Without a web config nothing is checked, and
  ``serve`` logs a warning saying so.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Final

import bcrypt
from aiohttp import BasicAuth, hdrs, web

from agents.errors import ConfigError
from monitor.service.web_config import BCRYPT_HASH, WebConfig

logger = logging.getLogger(__name__)

READ_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
READ_ONLY_POSTS: Final = frozenset({"/api/v1/whatif"})
"""POSTs that only ask a question (the body is the question): readers may send them."""
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
"""The page loads only its own scripts, styles, data and event stream (``data:`` is its icon)."""
SECURITY_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}
AUTHENTICATED_USER: Final = web.RequestKey("authenticated_user", str)
"""The basic-auth user a request proved to be (set only when there is one)."""
SERVER: Final = "dcmon"
REALM: Final = 'Basic realm="dcmon", charset="UTF-8"'
DEFAULT_COST: Final = 10

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class PasswordCheck:
    """Basic-auth passwords checked against bcrypt hashes, one bcrypt at a time, off the loop.

    bcrypt is slow on purpose (about 0.1 s at cost 10), so the last password that succeeded for
    each user is remembered as a SHA-256 digest of user, hash and password, and compared in
    constant time: a scrape every 15 s costs one bcrypt in all, not one each. An unknown user is
    checked against a throwaway hash of the same cost, so the answer's timing does not tell
    whether the user exists.
    """

    def __init__(self, users: Mapping[str, str]) -> None:
        self._hashes = {user: hashed.encode() for user, hashed in users.items()}
        costs = [
            int(found.group("cost"))
            for hashed in users.values()
            if (found := BCRYPT_HASH.fullmatch(hashed)) is not None
        ]
        rounds = max(costs, default=DEFAULT_COST)
        self._decoy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds))
        self._verified: dict[str, bytes] = {}
        self._lock = asyncio.Lock()
        self.bcrypt_runs = 0
        """How many passwords needed a bcrypt (the others were remembered)."""

    async def check(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s."""
        hashed = self._hashes.get(user)
        secret = password.encode()
        digest = hashlib.sha256(
            b"\0".join((user.encode(), hashed or b"", hashlib.sha256(secret).digest()))
        ).digest()
        remembered = self._verified.get(user) if hashed is not None else None
        if remembered is not None and hmac.compare_digest(remembered, digest):
            return True
        # One at a time, as exporter-toolkit does: a burst of wrong passwords queues here
        # instead of taking every core.
        async with self._lock:
            self.bcrypt_runs += 1
            matches = await asyncio.to_thread(_bcrypt_matches, secret, hashed or self._decoy)
        if matches and hashed is not None:
            self._verified[user] = digest
            return True
        return False


def _bcrypt_matches(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # longer than bcrypt's 72 bytes: never a valid password
        return False


def _reads(request: web.Request) -> bool:
    """Whether ``request`` changes nothing (a read, or a question like a what-if)."""
    if request.method in READ_METHODS:
        return True
    return request.method == "POST" and request.path in READ_ONLY_POSTS


class Access:
    """The access rules of one aggregator: its web config (or none) and its writers."""

    def __init__(self, web_config: WebConfig | None, writers: Iterable[str] = ()) -> None:
        self.web_config = web_config
        self.writers = frozenset(writers)
        users = web_config.users if web_config is not None else {}
        self._passwords = PasswordCheck(users) if users else None
        tls = web_config.tls if web_config is not None else None
        sans = tls.client_allowed_sans if tls is not None else None
        self._allowed_sans = None if sans is None else frozenset(_normalise_san(s) for s in sans)
        headers = {**SECURITY_HEADERS, **(web_config.headers if web_config else {})}
        # As in exporter-toolkit, a header configured blank is not sent.
        self._headers = {name: value for name, value in headers.items() if value}
        self._unset = frozenset(name for name, value in headers.items() if not value)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse what the rules do not allow; pass the rest to ``handler``."""
        if self.web_config is None:
            return await handler(request)
        if self._allowed_sans is not None and not self._certificate_allowed(request):
            return _refusal(403, "the client certificate names none of client_allowed_sans")
        user: str | None = None
        if self._passwords is not None:
            user = await self._user(request)
            if user is None:
                response = _refusal(401, "authentication required")
                response.headers[hdrs.WWW_AUTHENTICATE] = REALM
                return response
            request[AUTHENTICATED_USER] = user
        if not _reads(request) and (user is None or user not in self.writers):
            who = f"user {user!r}" if user is not None else "a request without basic auth"
            return _refusal(
                403, f"{who} may not change anything: only the writers of the aggregator config may"
            )
        return await handler(request)

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        """Set the security and configured headers on every response, and hide the version."""
        response.headers.update(self._headers)
        for name in self._unset:
            response.headers.popall(name, None)
        response.headers[hdrs.SERVER] = SERVER

    async def _user(self, request: web.Request) -> str | None:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header is None:
            return None
        try:
            credentials = BasicAuth.decode(header, encoding="utf-8")
        except ValueError:
            return None
        assert self._passwords is not None
        user = str(credentials.login)
        if await self._passwords.check(user, str(credentials.password)):
            return user
        logger.debug("wrong password for %r from %s", user, request.remote)
        return None

    def _certificate_allowed(self, request: web.Request) -> bool:
        assert self._allowed_sans is not None
        transport = request.transport
        peer = transport.get_extra_info("peercert") if transport is not None else None
        if not peer:
            return False
        names = {_normalise_san(str(value)) for _, value in peer.get("subjectAltName", ())}
        return not names.isdisjoint(self._allowed_sans)


def _refusal(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _normalise_san(value: str) -> str:
    # Python writes IPv6 addresses in full and upper case, Go (and operators) compressed.
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value


def check_writers(writers: Iterable[str], web_config: WebConfig | None, source: str) -> None:
    """Writers must be basic-auth users of the web config (``ConfigError`` naming the entry).

    Args:
        writers: the aggregator config's ``writers``.
        web_config: the web config in force, if any.
        source: the aggregator config's file name (or ``command line``).
    """
    for i, writer in enumerate(writers):
        if web_config is None:
            raise ConfigError(
                source,
                "writers",
                "writers need a web config with basic_auth_users (web_config: or --web-config); "
                "without one nobody authenticates",
            )
        if writer not in web_config.users:
            raise ConfigError(
                source,
                f"writers[{i}]",
                f"{writer!r} is not one of the web config's basic_auth_users",
            )


def exposure_warning(
    web_config: WebConfig | None, host: str, port: int, source: str = "the web config"
) -> str | None:
    """The warning to log when the HTTP API serves anyone who can reach it, else ``None``."""
    if web_config is None:
        url = f"http://{_url_host(host)}:{port}"
        problem = f"the HTTP API on {url} is unauthenticated and unencrypted (no --web-config)"
    elif not authenticates(web_config):
        url = f"{web_config.scheme}://{_url_host(host)}:{port}"
        problem = (
            f"the HTTP API on {url} is unauthenticated: {source} lists no basic_auth_users "
            "and does not require client certificates"
        )
    else:
        return None
    if is_loopback(host):
        return f"{problem}; it listens on loopback only"
    return (
        f"{problem}, and {host or '*'} is NOT a loopback address: anyone who can reach this "
        "port reads everything dcmon knows"
    )


def authenticates(web_config: WebConfig) -> bool:
    """Whether every request must prove who it comes from (a password or a certificate)."""
    tls = web_config.tls
    return bool(web_config.users) or (tls is not None and tls.requires_client_certificate)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

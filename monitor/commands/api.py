"""A small synchronous client of the aggregator's HTTP API, with one-line errors."""

from __future__ import annotations

import argparse
import base64
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from agents.errors import ConfigError, DcmonError

DEFAULT_URL: Final = "http://127.0.0.1:8080"
TIMEOUT_S: Final = 10.0
PASSWORD_ENV: Final = "DCMON_PASSWORD"


class ApiError(DcmonError):
    """The aggregator could not be reached, or refused the request."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An aggregator's URL and how to prove who we are to it (its web config's basic auth)."""

    url: str
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None


def add_url_argument(parser: Any, default: str = DEFAULT_URL) -> None:
    """The ``--url`` flag every console command takes, with the credential flags."""
    parser.add_argument(
        "--url",
        default=default,
        help=f"the aggregator (or dcmon demo) to ask (default {default})",
    )
    parser.add_argument(
        "--user", help=f"basic-auth user (password from {PASSWORD_ENV} or --password-file)"
    )
    parser.add_argument("--password-file", metavar="FILE", help="file holding the password")
    parser.add_argument("--ca-file", metavar="FILE", help="CA bundle for an https:// --url")


def endpoint(args: argparse.Namespace) -> Endpoint:
    """The endpoint the flags of ``add_url_argument`` describe (``ConfigError`` if unusable)."""
    password = os.environ.get(PASSWORD_ENV) or None
    if args.password_file is not None:
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(args.password_file, "", f"cannot read password file ({exc})") from exc
        if args.user is None:
            raise ConfigError("--password-file", "", "needs --user as well")
    if args.user is not None and password is None:
        raise ConfigError(
            "--user", "", f"needs a password: set {PASSWORD_ENV} or give --password-file"
        )
    return Endpoint(
        args.url,
        user=args.user,
        password=password if args.user is not None else None,
        ca_file=args.ca_file,
    )


def request_json(
    target: Endpoint | str,
    path: str,
    *,
    method: str = "GET",
    params: Mapping[str, str | Sequence[str]] | None = None,
    body: Any = None,
) -> Any:
    """Send a request to ``target``'s URL + ``path`` and decode the JSON answer.

    Raises:
        ApiError: one line naming the URL and what went wrong (unreachable, HTTP error with the
            server's ``error`` message, or not JSON).
    """
    target = Endpoint(target) if isinstance(target, str) else target
    base_url = target.url
    url = base_url.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    if not url.startswith(("http://", "https://")):
        raise ApiError(f"--url {base_url!r}: must start with http:// or https://")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if target.user is not None and target.password is not None:
        pair = f"{target.user}:{target.password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
    context = ssl.create_default_context(cafile=target.ca_file) if target.ca_file else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S, context=context) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        hint = " (give --user, with DCMON_PASSWORD or --password-file)" if exc.code == 401 else ""
        raise ApiError(f"{url}: HTTP {exc.code}: {_error_message(exc)}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):
            raise ApiError(
                f"cannot reach {base_url} over TLS ({reason}); give its CA with --ca-file"
            ) from None
        raise ApiError(f"cannot reach {base_url} ({reason}); is dcmon running there?") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(f"{url}: the answer is not JSON") from None


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read())
    except (ValueError, OSError):
        return str(exc.reason)
    message = body.get("error") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message
    return str(exc.reason)

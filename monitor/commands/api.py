"""A small synchronous client of the aggregator's HTTP API, with one-line errors."""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from agents.errors import ConfigError, DcmonError
from monitor.config import DEFAULT_LISTEN

DEFAULT_URL: Final = f"http://{DEFAULT_LISTEN}"
URL_ENV: Final = "DCMON_URL"
TIMEOUT_S: Final = 10.0
PASSWORD_ENV: Final = "DCMON_PASSWORD"


class ApiError(DcmonError):
    """The aggregator could not be reached, or refused the request."""


class ParameterRefused(ApiError):
    """The aggregator refused a parameter (HTTP 400): said with the option the user typed.

    Attributes:
        parameter: the API's name of the parameter (``from``, ``max_rtt_ms``).
    """

    def __init__(
        self, parameter: str, api_message: str, options: Mapping[str, str] | None = None
    ) -> None:
        self.parameter = parameter
        problem = api_message.removeprefix(f"bad parameter {parameter}: ")
        problem = _API_PARAMETER.sub(lambda m: option_name(m[1], options), problem)
        super().__init__(f"{option_name(parameter, options)}: {problem}")


_API_PARAMETER: Final = re.compile(r"\b([a-z][a-z_]*)=(?=[^\w]|$)")
"""``resource=`` in an API message: how the API names a parameter in its sentences."""


def option_name(parameter: str, options: Mapping[str, str] | None = None) -> str:
    """The console option that sets an API parameter: ``max_rtt_ms`` → ``--max-rtt-ms``.

    Console options are named after the API's parameters; ``options`` names the exceptions
    (``{"max_links": "--suggest"}``).
    """
    if options and parameter in options:
        return options[parameter]
    return "--" + parameter.replace("_", "-")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An aggregator's URL and how to prove who we are to it (its web config's basic auth)."""

    url: str
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None


def endpoint(args: argparse.Namespace) -> Endpoint:
    """The endpoint the connection options describe (``ConfigError`` if unusable).

    The URL is ``--url``, else ``$DCMON_URL``, else ``DEFAULT_URL`` (where the aggregator listens
    by default). Options are read with ``getattr``: given nowhere on the command line, they are
    absent (``monitor.commands.options`` lets them be given at any level).
    """
    url = getattr(args, "url", None) or os.environ.get(URL_ENV) or DEFAULT_URL
    user: str | None = getattr(args, "user", None)
    password_file: str | None = getattr(args, "password_file", None)
    password = os.environ.get(PASSWORD_ENV) or None
    if password_file is not None:
        try:
            password = Path(password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(password_file, "", f"cannot read password file ({exc})") from exc
        if user is None:
            raise ConfigError("--password-file", "", "needs --user as well")
    if user is not None and password is None:
        raise ConfigError(
            "--user", "", f"needs a password: set {PASSWORD_ENV} or give --password-file"
        )
    return Endpoint(
        url,
        user=user,
        password=password if user is not None else None,
        ca_file=getattr(args, "ca_file", None),
    )


def request_json(
    target: Endpoint | str,
    path: str,
    *,
    method: str = "GET",
    params: Mapping[str, str | Sequence[str]] | None = None,
    body: Any = None,
    options: Mapping[str, str] | None = None,
) -> Any:
    """Send a request to ``target``'s URL + ``path`` and decode the JSON answer.

    ``options`` names the console options of parameters not named after them (``option_name``).

    Raises:
        ParameterRefused: the aggregator refused a parameter, said with the console's option.
        ApiError: one line naming the URL and what went wrong (unreachable, HTTP error with the
            server's ``error`` message, or not JSON).
    """
    with open_api(
        target, path, method=method, params=params, body=body, options=options
    ) as response:
        url, raw = response.url, _read(response, target)
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiError(f"{url}: the answer is not JSON") from None


@contextlib.contextmanager
def open_api(
    target: Endpoint | str,
    path: str,
    *,
    method: str = "GET",
    params: Mapping[str, str | Sequence[str]] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = TIMEOUT_S,
    options: Mapping[str, str] | None = None,
) -> Iterator[http.client.HTTPResponse]:
    """The open HTTP response of ``target``'s URL + ``path``, for the caller to read.

    Raises:
        ParameterRefused, ApiError: as ``request_json`` does.
    """
    target = Endpoint(target) if isinstance(target, str) else target
    base_url = target.url
    url = base_url.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params, doseq=True)
    if not url.startswith(("http://", "https://")):
        raise ApiError(f"--url {base_url!r}: must start with http:// or https://")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if target.user is not None and target.password is not None:
        pair = f"{target.user}:{target.password}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(pair).decode("ascii"))
    context = ssl.create_default_context(cafile=target.ca_file) if target.ca_file else None
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s, context=context)
    except urllib.error.HTTPError as exc:
        message, parameter = _error_message(exc)
        if exc.code == 400 and parameter is not None:
            raise ParameterRefused(parameter, message, options) from None
        hint = " (give --user, with DCMON_PASSWORD or --password-file)" if exc.code == 401 else ""
        raise ApiError(f"{url}: HTTP {exc.code}: {message}{hint}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _unreachable(target, exc) from None
    with response:
        yield response


def _read(response: http.client.HTTPResponse, target: Endpoint | str) -> bytes:
    try:
        return response.read()
    except OSError as exc:
        raise _unreachable(Endpoint(target) if isinstance(target, str) else target, exc) from None


def _unreachable(target: Endpoint, exc: OSError) -> ApiError:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ssl.SSLError):
        return ApiError(
            f"cannot reach {target.url} over TLS ({reason}); give its CA with --ca-file"
        )
    return ApiError(f"cannot reach {target.url} ({reason}); is dcmon running there?")


def _error_message(exc: urllib.error.HTTPError) -> tuple[str, str | None]:
    """The server's ``error`` message and, for a refused parameter, its name."""
    try:
        body = json.loads(exc.read())
    except (ValueError, OSError):
        return str(exc.reason), None
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return str(exc.reason), None
    parameter = body.get("parameter")
    return body["error"], parameter if isinstance(parameter, str) else None

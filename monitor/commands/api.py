"""A small synchronous client of the aggregator's HTTP API, with one-line errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Final

from agents.errors import DcmonError

DEFAULT_URL: Final = "http://127.0.0.1:8080"
TIMEOUT_S: Final = 10.0


class ApiError(DcmonError):
    """The aggregator could not be reached, or refused the request."""


def add_url_argument(parser: Any, default: str = DEFAULT_URL) -> None:
    """The ``--url`` flag every console command takes."""
    parser.add_argument(
        "--url",
        default=default,
        help=f"the aggregator (or dcmon demo) to ask (default {default})",
    )


def request_json(
    base_url: str,
    path: str,
    *,
    method: str = "GET",
    params: dict[str, str] | None = None,
    body: Any = None,
) -> Any:
    """Send a request to ``base_url + path`` and decode the JSON answer.

    Raises:
        ApiError: one line naming the URL and what went wrong (unreachable, HTTP error with the
            server's ``error`` message, or not JSON).
    """
    url = base_url.rstrip("/") + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    if not url.startswith(("http://", "https://")):
        raise ApiError(f"--url {base_url!r}: must start with http:// or https://")
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        raise ApiError(f"{url}: HTTP {exc.code}: {_error_message(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
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

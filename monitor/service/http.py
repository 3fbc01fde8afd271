"""The aggregator's HTTP API (aiohttp): metrics, health, and the read-only JSON API of DESIGN §5.

``build_app`` returns the application; the aggregator's background work (ingest and the
evaluation loop) runs in its ``cleanup_ctx``, so whoever runs the app runs the aggregator.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from importlib import resources
from pathlib import Path
from typing import Final, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware

from agents.errors import ParameterError
from agents.protocol import RESOURCES
from monitor.registry import TIERS
from monitor.service.access import AUTHENTICATED_USER
from monitor.service.aggregator import Aggregator, ReloadRefused
from monitor.service.events import EVENT_TYPES, Event, EventLog, event_type
from monitor.service.maintenance import WINDOW_STATES, MaintenanceEntry, parse_request
from monitor.service.planning import MAX_SUGGESTED, RANKED, Job, settle
from monitor.service.views import (
    Json,
    candidate_json,
    capacity_totals_json,
    center_detail_json,
    center_json,
    event_json,
    header,
    incident_json,
    link_json,
    maintenance_json,
    nodegraph_json,
    palette_css,
    ranking_json,
    reload_json,
    scenario_json,
    spof_json,
    suggestion_json,
    topology_json,
    whatif_json,
)
from monitor.status.model import LINK_STATES, SEVERITIES, STATUSES, Incident, Snapshot
from monitor.status.planner import find_candidates
from monitor.status.whatif import Scenario, scenario

logger = logging.getLogger(__name__)
T = TypeVar("T")

AGGREGATOR: Final = web.AppKey("aggregator", Aggregator)
OPENAPI: Final = web.AppKey("openapi", bytes)
PALETTE_CSS: Final = web.AppKey("palette_css", bytes)
STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
SSE_KEEPALIVE_S: Final = 15.0
MAX_EVENTS_LIMIT: Final = 100_000
"""The largest ``limit`` of ``/api/v1/events`` and ``/api/v1/incidents``."""
INCIDENT_STATES: Final = ("open", "resolved", "all")
MAINTENANCE_FILTERS: Final = ("current", *WINDOW_STATES, "all")
"""``state`` of ``/api/v1/maintenance``: ``current`` is scheduled and active (the default)."""
WHATIF_FIELDS: Final = ("down", "cut", "repair", "base")
PLANNING_WAIT_S: Final = 2.0
"""A resilience request waits this long for its job (a small federation's answer comes at
once); a longer job answers 202 with its progress until it is done."""
DEFAULT_RANKED: Final = 10
DEFAULT_SUGGESTED: Final = 5
SSE_EVENT_NAMES: Final = {"center": "status", "link": "link", "incident": "incident"}
"""The SSE ``event:`` name of each event type (``status`` for centers, as before types)."""
METRICS_WRITE_BYTES: Final = 1 << 16
"""Below glibc's mmap threshold: pieces reuse freed heap chunks instead of growing the heap."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    aggregator: Aggregator,
    *,
    demo_app: web.Application | None = None,
    middlewares: Sequence[Middleware] = (),
) -> web.Application:
    """The aggregator's aiohttp application.

    Args:
        aggregator: the aggregator it serves (started and stopped with the app).
        demo_app: fault injection for ``dcmon demo``, mounted at ``/api/v1/demo/``.
        middlewares: run before the app's own, outermost first (access control).
    """
    app = web.Application(middlewares=[*middlewares, _errors])
    app[AGGREGATOR] = aggregator
    app[OPENAPI] = resources.files("monitor").joinpath("openapi.json").read_bytes()
    app[PALETTE_CSS] = palette_css().encode()
    app.cleanup_ctx.append(_run_aggregator)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/api/v1/centers", centers)
    app.router.add_get("/api/v1/centers/{id}", center)
    app.router.add_get("/api/v1/links", links)
    app.router.add_get("/api/v1/topology", topology)
    app.router.add_get("/api/v1/spof", spof)
    app.router.add_get("/api/v1/capacity", capacity)
    app.router.add_get("/api/v1/incidents", incidents)
    app.router.add_get("/api/v1/incidents/{id}", incident)
    app.router.add_get("/api/v1/events", events)
    app.router.add_get("/api/v1/events/stream", events_stream)
    app.router.add_post("/api/v1/whatif", whatif)
    app.router.add_get("/api/v1/resilience", resilience)
    app.router.add_delete("/api/v1/resilience", cancel_resilience)
    app.router.add_get("/api/v1/resilience/suggestions", suggestions)
    app.router.add_get("/api/v1/maintenance", maintenance_windows)
    app.router.add_post("/api/v1/maintenance", declare_maintenance)
    app.router.add_get("/api/v1/maintenance/{id}", maintenance_window)
    app.router.add_delete("/api/v1/maintenance/{id}", end_maintenance)
    app.router.add_post("/-/reload", reload)
    if (STATIC_DIR / "index.html").is_file():
        app.router.add_get("/", index)
        # Generated, not a file: resolved before the static directory by its longer prefix.
        app.router.add_get("/static/palette.css", palette)
        app.router.add_static("/static/", STATIC_DIR)
    if demo_app is not None:
        app.add_subapp("/api/v1/demo/", demo_app)
    return app


async def _run_aggregator(app: web.Application) -> AsyncIterator[None]:
    async with app[AGGREGATOR].running():
        yield


async def _end_streams(app: web.Application) -> None:
    app[AGGREGATOR].events.close()


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ParameterError as exc:
        return web.json_response(
            {"error": f"bad parameter {exc.parameter}: {exc.problem}", "parameter": exc.parameter},
            status=400,
        )
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return web.json_response({"error": exc.reason}, status=exc.status)


# --- query parameters ----------------------------------------------------------------------------


_DECIMAL: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_INTEGER: Final = re.compile(r"[0-9]+", re.ASCII)


def _single(request: web.Request, name: str) -> str | None:
    """The one value of query parameter ``name`` (a repeated parameter is ambiguous: 400)."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise ParameterError(name, f"given {len(values)} times; give it once")
    return values[0] if values else None


def _choice(request: web.Request, name: str, allowed: Collection[str]) -> str | None:
    value = _single(request, name)
    if value is None:
        return None
    if value not in allowed:
        raise ParameterError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def _number(
    request: web.Request, name: str, *, minimum: float = 0.0, integer: bool = False
) -> float | None:
    """A plain decimal (ASCII digits, no sign, exponent or ``_``; ``integer``: digits only)."""
    text = _single(request, name)
    if text is None:
        return None
    if (_INTEGER if integer else _DECIMAL).fullmatch(text) is None:
        kind = "a whole number like 8" if integer else "a decimal number like 8 or 2.5"
        raise ParameterError(name, f"{text!r} is not {kind}")
    value = float(text)
    if not value >= minimum or value == float("inf"):
        raise ParameterError(name, f"{text!r} must be a finite number >= {minimum:g}")
    return value


def _limit(request: web.Request) -> int | None:
    """``limit``: a whole number from 1 to ``MAX_EVENTS_LIMIT``."""
    limit = _number(request, "limit", minimum=1, integer=True)
    if limit is not None and limit > MAX_EVENTS_LIMIT:
        raise ParameterError("limit", f"must be at most {MAX_EVENTS_LIMIT}")
    return None if limit is None else int(limit)


def _center_id(request: web.Request, name: str) -> str | None:
    value = _single(request, name)
    if value is None:
        return None
    if value not in request.app[AGGREGATOR].registry.centers_by_id:
        raise ParameterError(name, f"{value!r} is not a registered center")
    return value


# --- operations ----------------------------------------------------------------------------------


async def metrics(request: web.Request) -> web.StreamResponse:
    """Prometheus exposition of DESIGN §4 (the snapshot part is cached per evaluation)."""
    parts = await request.app[AGGREGATOR].metrics_parts()
    response = web.StreamResponse(headers={"Content-Type": METRICS_CONTENT_TYPE})
    response.content_length = sum(len(part) for part in parts)
    await response.prepare(request)
    if request.method == "HEAD":
        await response.write_eof()
        return response
    # Sent in pieces of about METRICS_WRITE_BYTES: few awaits, and no second copy of the body.
    batch: list[bytes] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= METRICS_WRITE_BYTES:
            await response.write(b"".join(batch))
            batch, size = [], 0
    await response.write(b"".join(batch))
    await response.write_eof()
    return response


async def healthz(request: web.Request) -> web.Response:
    """Process alive: every check ``ok``, or 500 listing the ``failing`` ones."""
    checks = request.app[AGGREGATOR].health_checks()
    failing = [{"name": name, "error": error} for name, error in checks if error]
    body = {
        "status": "failing" if failing else "ok",
        "ok": [name for name, error in checks if not error],
        "failing": failing,
    }
    return web.json_response(body, status=500 if failing else 200)


async def readyz(request: web.Request) -> web.Response:
    """200 once the broker is connected and the retained picture received; else 503."""
    aggregator = request.app[AGGREGATOR]
    connected = aggregator.broker_connected
    synced = aggregator.ingest.synced
    body: Json = {
        "ready": aggregator.ready,
        "broker_connected": connected,
        "synced": synced,
        "blind": aggregator.blind,
    }
    if not aggregator.ready:
        body["reason"] = "no broker connection" if not connected else "initial sync in progress"
    return web.json_response(body, status=200 if aggregator.ready else 503)


async def openapi(request: web.Request) -> web.Response:
    """The OpenAPI document of this API."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")


async def index(request: web.Request) -> web.FileResponse:
    """The built-in status page."""
    return web.FileResponse(STATIC_DIR / "index.html")


async def palette(request: web.Request) -> web.Response:
    """The status palette as CSS custom properties, revalidated by ETag like the static files."""
    body = request.app[PALETTE_CSS]
    etag = hashlib.sha256(body).hexdigest()[:20]
    if any(tag.value in (etag, "*") for tag in request.if_none_match or ()):
        raise web.HTTPNotModified(headers={"ETag": f'"{etag}"'})
    response = web.Response(body=body, content_type="text/css", charset="utf-8")
    response.etag = etag
    return response


async def centers(request: web.Request) -> web.Response:
    """Every registered center, optionally filtered by status, tier and region."""
    aggregator = request.app[AGGREGATOR]
    status = _choice(request, "status", STATUSES)
    tier = _choice(request, "tier", TIERS)
    region = _choice(request, "region", aggregator.registry.regions())
    snapshot = aggregator.snapshot
    out = []
    for spec in aggregator.registry.centers:
        entry = center_json(spec, snapshot.centers[spec.id])
        if status is not None and entry["status"] != status:
            continue
        if (tier is not None and spec.tier != tier) or (
            region is not None and spec.region != region
        ):
            continue
        out.append(entry)
    return web.json_response({**header(snapshot), "count": len(out), "centers": out})


async def center(request: web.Request) -> web.Response:
    """One center with its links; 404 for an id that is not registered."""
    aggregator = request.app[AGGREGATOR]
    cid = request.match_info["id"]
    spec = aggregator.registry.centers_by_id.get(cid)
    if spec is None:
        raise web.HTTPNotFound(reason=f"no registered center {cid!r}")
    snapshot = aggregator.snapshot
    return web.json_response(
        {**header(snapshot), "center": center_detail_json(spec, snapshot, aggregator.registry)}
    )


async def links(request: web.Request) -> web.Response:
    """Every registered link with its state and probes, optionally filtered by state."""
    aggregator = request.app[AGGREGATOR]
    state = _choice(request, "state", LINK_STATES)
    snapshot = aggregator.snapshot
    out = [link_json(spec, snapshot) for spec in aggregator.registry.links]
    if state is not None:
        out = [entry for entry in out if entry["state"] == state]
    return web.json_response({**header(snapshot), "count": len(out), "links": out})


async def topology(request: web.Request) -> web.Response:
    """The graph as node-link JSON, or ``?format=nodegraph`` for Grafana's Node Graph panel."""
    aggregator = request.app[AGGREGATOR]
    fmt = _choice(request, "format", ("node-link", "nodegraph")) or "node-link"
    build = nodegraph_json if fmt == "nodegraph" else topology_json
    return web.json_response(build(aggregator.snapshot, aggregator.registry))


async def spof(request: web.Request) -> web.Response:
    """Single points of failure: articulation centers and bridge links."""
    return web.json_response(spof_json(request.app[AGGREGATOR].snapshot))


async def capacity(request: web.Request) -> web.Response:
    """Capacity totals; with ``resource`` (and ``min``, ``from``, ``max_rtt_ms``) the candidates."""
    aggregator = request.app[AGGREGATOR]
    resource = _choice(request, "resource", RESOURCES)
    minimum = _number(request, "min")
    origin = _center_id(request, "from")
    max_rtt_ms = _number(request, "max_rtt_ms")
    if resource is None:
        for name, value in (("min", minimum), ("from", origin), ("max_rtt_ms", max_rtt_ms)):
            if value is not None:
                raise ParameterError(name, "needs resource= as well")
    elif origin is None:
        raise ParameterError("from", "required with resource= (the center the work comes from)")
    imagined = _capacity_what_if(request)
    snapshot = aggregator.snapshot
    if imagined is not None:
        snapshot = (await aggregator.what_if(imagined)).after
    body = capacity_totals_json(snapshot, aggregator.registry)
    body["whatif"] = None if imagined is None else scenario_json(imagined)
    if resource is not None and origin is not None:
        body["query"] = {
            "resource": resource,
            "min": minimum or 0.0,
            "from": origin,
            "max_rtt_ms": max_rtt_ms,
        }
        found = find_candidates(
            snapshot, aggregator.registry, resource, minimum or 0.0, origin, max_rtt_ms
        )
        body["candidates"] = [candidate_json(c, aggregator.registry, snapshot) for c in found]
    return web.json_response(body)


def _capacity_what_if(request: web.Request) -> Scenario | None:
    """``whatif_down=ID`` and ``whatif_cut=A,B`` (each repeatable): the planner answers as if
    those failures had happened (DESIGN §10), from the current state."""
    down = request.query.getall("whatif_down", [])
    cuts = request.query.getall("whatif_cut", [])
    if not down and not cuts:
        return None
    pairs = []
    for text in cuts:
        pair = text.split(",")
        if len(pair) != 2:
            raise ParameterError("whatif_cut", f"{text!r} is not a link: give it as A,B")
        pairs.append(pair)
    try:
        return scenario(request.app[AGGREGATOR].engine.index, down=down, cut=pairs)
    except ParameterError as exc:
        raise ParameterError(f"whatif_{exc.parameter}", exc.problem) from None


async def whatif(request: web.Request) -> web.Response:
    """What if these centers failed and links were cut (or repaired)? DESIGN §10; read-only."""
    aggregator = request.app[AGGREGATOR]
    try:
        body = await request.json()
    except ValueError:
        raise ParameterError("body", 'is not JSON: send an object like {"down": ["id"]}') from None
    if not isinstance(body, dict):
        raise ParameterError("body", "must be a JSON object with down, cut, repair, base")
    for key in body:
        if key not in WHATIF_FIELDS:
            raise ParameterError(str(key), f"unknown field; give {', '.join(WHATIF_FIELDS)}")
    lists = {}
    for key in ("down", "cut", "repair"):
        value = body.get(key, [])
        if not isinstance(value, list):
            raise ParameterError(key, "must be a list")
        lists[key] = value
    base = body.get("base", "current")
    imagined = scenario(
        aggregator.engine.index,
        down=lists["down"],
        cut=lists["cut"],
        repair=lists["repair"],
        base=base if isinstance(base, str) else repr(base),
    )
    outcome = await aggregator.what_if(imagined)
    return web.json_response(whatif_json(outcome, aggregator.registry))


def _k(request: web.Request) -> int:
    k = _number(request, "k", minimum=1, integer=True)
    if k is not None and k > 2:
        raise ParameterError("k", "must be 1 (single failures) or 2 (double failures)")
    return 1 if k is None else int(k)


def _job_answer(job: Job[T], render: Callable[[T], Json], running: Json) -> web.Response:
    """A planning job's answer: 200 with the result, 202 with the progress (and ``running``,
    the result's shape with nothing in it) while it runs."""
    body: dict[str, object] = {
        "state": job.state,
        "progress": job.progress,
        "base": "healthy",
        "started_at": job.started_at,
        "computed_at": job.finished_at,
    }
    if job.state == "done" and job.result is not None:
        return web.json_response({**body, **render(job.result)})
    if job.state == "failed":
        return web.json_response({**body, "error": job.error}, status=500)
    return web.json_response({**body, **running}, status=202)


async def resilience(request: web.Request) -> web.Response:
    """The worst single (k=1) or double (k=2) failures of the healthy federation (DESIGN §10)."""
    k = _k(request)
    limit = _number(request, "limit", minimum=1, integer=True)
    if limit is not None and limit > RANKED:
        raise ParameterError("limit", f"must be at most {RANKED}")
    shown = DEFAULT_RANKED if limit is None else int(limit)
    job = await settle(request.app[AGGREGATOR].planning.ranking(k), PLANNING_WAIT_S)
    return _job_answer(
        job,
        lambda ranking: ranking_json(ranking, shown),
        {"k": k, "evaluated": 0, "failures": []},
    )


async def cancel_resilience(request: web.Request) -> web.Response:
    """Stop the ranking of ``k`` (a write: it stops work others may be waiting for)."""
    k = _k(request)
    job = request.app[AGGREGATOR].planning.cancel(f"k{k}")
    if job is None:
        raise web.HTTPNotFound(reason=f"no ranking for k={k} was asked for")
    return web.json_response({"k": k, "state": job.state, "progress": job.progress})


async def suggestions(request: web.Request) -> web.Response:
    """Up to ``max_links`` new links that would help most (DESIGN §10)."""
    wanted = _number(request, "max_links", minimum=1, integer=True)
    if wanted is not None and wanted > MAX_SUGGESTED:
        raise ParameterError("max_links", f"must be at most {MAX_SUGGESTED}")
    max_links = DEFAULT_SUGGESTED if wanted is None else int(wanted)
    job = await settle(request.app[AGGREGATOR].planning.suggestions(max_links), PLANNING_WAIT_S)
    return _job_answer(
        job,
        lambda found: {
            "max_links": max_links,
            "suggestions": [suggestion_json(i, s) for i, s in enumerate(found, 1)],
        },
        {"max_links": max_links, "suggestions": []},
    )


async def incidents(request: web.Request) -> web.Response:
    """Incidents, oldest opened first: ``state`` (default open), open during [``since``,
    ``until``], of ``severity``, the ``limit`` most recently opened."""
    state = _choice(request, "state", INCIDENT_STATES) or "open"
    since = _number(request, "since")
    until = _number(request, "until")
    if since is not None and until is not None and until < since:
        raise ParameterError("until", f"{until:g} is before since={since:g}")
    severity = _choice(request, "severity", SEVERITIES)
    limit = _limit(request)
    snapshot = request.app[AGGREGATOR].snapshot
    found = [
        i
        for i in _incidents_in(snapshot, state)
        if (severity is None or i.severity == severity)
        and (until is None or i.opened_at <= until)
        and (since is None or i.resolved_at is None or i.resolved_at >= since)
    ]
    found.sort(key=lambda i: (i.opened_at, _incident_number(i.id)))
    if limit is not None:
        found = found[-limit:]
    return web.json_response(
        {**header(snapshot), "count": len(found), "incidents": [incident_json(i) for i in found]}
    )


def _incidents_in(snapshot: Snapshot, state: str) -> list[Incident]:
    open_now = list(snapshot.incidents.values()) if state != "resolved" else []
    resolved = list(snapshot.resolved_incidents) if state != "open" else []
    return open_now + resolved


def _incident_number(incident_id: str) -> int:
    number = incident_id.removeprefix("inc-")
    return int(number) if number.isdigit() else 0


async def incident(request: web.Request) -> web.Response:
    """One incident, open or recently resolved; 404 for an id that is neither."""
    incident_id = request.match_info["id"]
    snapshot = request.app[AGGREGATOR].snapshot
    found = snapshot.incidents.get(incident_id)
    if found is None:
        found = next((i for i in snapshot.resolved_incidents if i.id == incident_id), None)
    if found is None:
        raise web.HTTPNotFound(
            reason=f"no incident {incident_id!r} open or among the recently resolved"
        )
    return web.json_response({**header(snapshot), "incident": incident_json(found)})


async def events(request: web.Request) -> web.Response:
    """Recent events, oldest first (``since`` a seq, concerning one ``center``, of one ``type``,
    the last ``limit``)."""
    aggregator = request.app[AGGREGATOR]
    since = _number(request, "since", integer=True)
    limit = _limit(request)
    center_id = _center_id(request, "center")
    kind = _choice(request, "type", EVENT_TYPES)
    found = aggregator.events.recent(
        since=None if since is None else int(since),
        center=center_id,
        types=None if kind is None else (kind,),
        limit=limit,
    )
    return web.json_response({"count": len(found), "events": [event_json(e) for e in found]})


def _sse(event: Event) -> bytes:
    data = json.dumps(event_json(event), separators=(",", ":"))
    name = SSE_EVENT_NAMES[event_type(event)]
    return f"id: {event.seq}\nevent: {name}\ndata: {data}\n\n".encode()


async def events_stream(request: web.Request) -> web.StreamResponse:
    """Events as they happen (server-sent events ``status``, ``link`` and ``incident``)."""
    log = request.app[AGGREGATOR].events
    queue = log.subscribe()
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    try:
        await response.prepare(request)
        await _send_events(response, log, queue, request.headers.get("Last-Event-ID", ""))
    except ConnectionResetError:
        logger.debug("an event-stream client went away")  # nothing to end: it is gone
        return response
    finally:
        log.unsubscribe(queue)
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


async def _send_events(
    response: web.StreamResponse, log: EventLog, queue: asyncio.Queue[Event | None], last_id: str
) -> None:
    """Replay what came after ``last_id``, then send events until the log ends the stream."""
    await response.write(b": dcmon events\n\n")
    if last_id.isdigit():
        for missed in log.recent(since=int(last_id)):
            await response.write(_sse(missed))
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), SSE_KEEPALIVE_S)
        except TimeoutError:
            await response.write(b": keepalive\n\n")
            continue
        if event is None:
            return
        await response.write(_sse(event))


# --- changes at runtime (DESIGN §11) -------------------------------------------------------------


async def maintenance_windows(request: web.Request) -> web.Response:
    """Maintenance windows, oldest declared first: ``state`` current (default), scheduled,
    active, ended or all."""
    wanted = _choice(request, "state", MAINTENANCE_FILTERS) or "current"
    now = time.time()
    found = [
        entry
        for entry in request.app[AGGREGATOR].maintenance.entries()
        if wanted == "all"
        or entry.state(now) == wanted
        or (wanted == "current" and entry.state(now) != "ended")
    ]
    return web.json_response(
        {"count": len(found), "windows": [maintenance_json(e, now) for e in found]}
    )


def _window(request: web.Request) -> MaintenanceEntry:
    entry_id = request.match_info["id"]
    entry = request.app[AGGREGATOR].maintenance.get(entry_id)
    if entry is None:
        raise web.HTTPNotFound(reason=f"no maintenance window {entry_id!r}")
    return entry


async def maintenance_window(request: web.Request) -> web.Response:
    """One maintenance window; 404 for an id never declared."""
    return web.json_response({"window": maintenance_json(_window(request), time.time())})


async def declare_maintenance(request: web.Request) -> web.Response:
    """Declare a maintenance window of a center or a link (a write): 201 with the window."""
    aggregator = request.app[AGGREGATOR]
    try:
        body = await request.json()
    except ValueError:
        raise ParameterError(
            "body", 'is not JSON: send an object like {"center": "id", "end": ..., "reason": ...}'
        ) from None
    now = time.time()
    wanted = parse_request(body, aggregator.registry, now, request.get(AUTHENTICATED_USER))
    entry = aggregator.declare_maintenance(wanted)
    return web.json_response({"window": maintenance_json(entry, now)}, status=201)


async def end_maintenance(request: web.Request) -> web.Response:
    """End a maintenance window now (a write; one not started yet is cancelled)."""
    entry = request.app[AGGREGATOR].end_maintenance(_window(request).id)
    assert entry is not None  # _window found it, and windows are never deleted
    return web.json_response({"window": maintenance_json(entry, time.time())})


async def reload(request: web.Request) -> web.Response:
    """Re-read the configuration and the registry (a write, like SIGHUP); 500 with the reason
    if a file is invalid (nothing changed then)."""
    try:
        outcome = await request.app[AGGREGATOR].reload()
    except ReloadRefused as exc:
        return web.json_response({"status": "error", "error": str(exc)}, status=500)
    return web.json_response(reload_json(outcome))


def openapi_document() -> Json:
    """The OpenAPI document, parsed (for tests and tools)."""
    document: Json = json.loads(resources.files("monitor").joinpath("openapi.json").read_text())
    return document

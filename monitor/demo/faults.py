"""The demo's fault-injection API, mounted at ``/api/v1/demo/`` (never in ``dcmon aggregator``).

- ``GET  /api/v1/demo/faults`` — the active faults and the kinds on offer;
- ``POST /api/v1/demo/faults`` — ``{"fault": "cut", "args": ["hub-north", "ndc-north"]}``;
- ``DELETE /api/v1/demo/faults`` — heal everything (same as ``{"fault": "heal"}``).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from monitor.simulation.federation import Simulator
from monitor.simulation.network import (
    FAULT_ARGUMENTS,
    FAULT_HELP,
    FAULT_KINDS,
    Fault,
    FaultError,
    FaultKind,
)

SIMULATOR: Final = web.AppKey("simulator", Simulator)


class FaultRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /faults``."""

    fault: str
    args: tuple[str, ...] = ()


_DECODER: Final = msgspec.json.Decoder(FaultRequest)


def build_demo_app(simulator: Simulator) -> web.Application:
    """The fault-injection sub-application controlling ``simulator``."""
    app = web.Application()
    app[SIMULATOR] = simulator
    app.router.add_get("/faults", list_faults)
    app.router.add_post("/faults", inject_fault)
    app.router.add_delete("/faults", heal)
    return app


def _state(simulator: Simulator) -> dict[str, Any]:
    return {
        "active": [{"fault": f.kind, "args": list(f.args)} for f in simulator.network.active],
        "kinds": {
            kind: {"args": list(FAULT_ARGUMENTS[kind]), "help": FAULT_HELP[kind]}
            for kind in FAULT_KINDS
        },
    }


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_faults(request: web.Request) -> web.Response:
    """The active faults."""
    return web.json_response(_state(request.app[SIMULATOR]))


async def inject_fault(request: web.Request) -> web.Response:
    """Inject one fault; 400 with a JSON error for a bad request or unknown id."""
    try:
        body = _DECODER.decode(await request.read())
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return _error(400, f'body: {exc} (expected {{"fault": KIND, "args": [...]}})')
    if body.fault not in FAULT_KINDS:
        return _error(400, f"fault: unknown fault {body.fault!r}; one of {', '.join(FAULT_KINDS)}")
    kind: FaultKind = body.fault
    simulator = request.app[SIMULATOR]
    try:
        simulator.inject(Fault(kind, body.args))
    except FaultError as exc:
        return _error(400, f"args: {exc}")
    return web.json_response(_state(simulator))


async def heal(request: web.Request) -> web.Response:
    """Clear every fault."""
    simulator = request.app[SIMULATOR]
    simulator.inject(Fault("heal"))
    return web.json_response(_state(simulator))

"""Simulated agent faults: a real agent session that can be killed or hung on command.

The production agent never does either; the simulator and the demo's fault injection do, through
``CenterSession``'s one seam for it (``_halt``).
"""

from __future__ import annotations

from agents.session import CenterSession


class FaultableSession(CenterSession):
    """A ``CenterSession`` with the two failures of a real agent process."""

    def drop(self) -> None:
        """End the session as a killed process would: cut the connection without a DISCONNECT.

        The broker then publishes the will (offline, lost). No goodbye, no reconnect: ``run``
        returns. Works on a frozen session too.
        """
        self._halt("dropped")

    def freeze(self) -> None:
        """Hang as a deadlocked process would: keep the socket open but send nothing at all.

        Publishing stops and so do MQTT keepalive pings, so the broker fires the will after
        1.5 x ``keepalive_s``; a lost connection is not noticed and not retried. A frozen session
        ends only with ``drop`` or ``stop``, either way without a goodbye: the connection is cut.
        """
        self._halt("frozen")

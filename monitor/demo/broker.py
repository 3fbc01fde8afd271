"""The demo's private MQTT broker: mosquitto when installed, else the embedded iotcore broker.

The broker runs as a child process in its own session (so the terminal's Ctrl-C reaches only
dcmon, which then stops everything in order) and is told to die with its parent, so no broker is
ever left behind, even if dcmon itself is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib.util
import logging
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agents.errors import DcmonError

logger = logging.getLogger(__name__)

MOSQUITTO_FALLBACK: Final = "/usr/sbin/mosquitto"
START_TIMEOUT_S: Final = 15.0
STOP_TIMEOUT_S: Final = 5.0
_PR_SET_PDEATHSIG: Final = 1


class BrokerUnavailable(DcmonError):
    """No broker could be started for the demo."""


def find_mosquitto() -> str | None:
    """The mosquitto binary: on PATH, else the Debian location, else ``None``."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return MOSQUITTO_FALLBACK if Path(MOSQUITTO_FALLBACK).is_file() else None


def iotcore_available() -> bool:
    """Whether the embedded broker package (``pip install 'dcmon[demo]'``) is installed."""
    return importlib.util.find_spec("iotcore") is not None


def _libc() -> ctypes.CDLL | None:
    """The C library, loaded in the parent: a child between fork and exec only calls into it
    (loading a library there could deadlock on a lock another thread held at fork time)."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def _die_with_parent(libc: ctypes.CDLL | None) -> Callable[[], None]:
    """What the child runs before exec: get SIGTERM when the parent dies (Linux)."""

    def arrange() -> None:
        if libc is not None:
            with contextlib.suppress(AttributeError):
                libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return arrange


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class DemoBroker:
    """A running broker child process on a loopback port."""

    kind: str
    """``mosquitto`` or ``iotcore``."""
    port: int
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    argv: list[str]

    @property
    def url(self) -> str:
        """``mqtt://127.0.0.1:<port>``."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def description(self) -> str:
        """What runs, for the start-up banner."""
        return f"{self.kind} (pid {self.process.pid}) on {self.url}"

    def exit_reason(self) -> str | None:
        """How the broker ended (``killed by SIGKILL``, ``exit status 1``); ``None`` while it
        runs. Asking reaps an ended broker, so it never lingers as a zombie."""
        code = self.process.poll()
        if code is None:
            return None
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"exit status {code}"

    def restart(self) -> None:
        """Start the broker again on the same port (the clients reconnect to the same URL).

        Raises:
            BrokerUnavailable: when it does not come back.
        """
        self.exit_reason()
        self.process = _spawn(self.argv, Path(self.workdir.name))
        _wait_until_serving(self)

    def stop(self) -> None:
        """Terminate the broker and reap it (SIGKILL if it does not go within 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        self.workdir.cleanup()


def start_broker(prefer: str = "auto") -> DemoBroker:
    """Start the demo broker on a free loopback port and wait until it accepts connections.

    Args:
        prefer: ``auto`` (mosquitto if installed, else iotcore), ``mosquitto`` or ``iotcore``.

    Raises:
        BrokerUnavailable: when neither broker is installed, or it does not come up.
    """
    mosquitto = find_mosquitto()
    if prefer == "mosquitto" and mosquitto is None:
        raise BrokerUnavailable("mosquitto is not installed (apt-get install mosquitto)")
    if prefer == "iotcore" and not iotcore_available():
        raise BrokerUnavailable("iotcore is not installed (pip install 'dcmon[demo]')")
    if prefer in ("auto", "mosquitto") and mosquitto is not None:
        return _start("mosquitto", lambda port, work: _mosquitto_command(mosquitto, port, work))
    if iotcore_available():
        return _start("iotcore", _iotcore_command)
    raise BrokerUnavailable(
        "no MQTT broker available: install mosquitto (apt-get install mosquitto) "
        "or the embedded one (pip install 'dcmon[demo]')"
    )


def _mosquitto_command(binary: str, port: int, workdir: Path) -> list[str]:
    config = workdir / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 100000\n"
        "log_dest stderr\n"
        "log_type error\nlog_type warning\n",
        encoding="utf-8",
    )
    return [binary, "-c", str(config)]


def _iotcore_command(port: int, workdir: Path) -> list[str]:
    del workdir
    return [
        sys.executable,
        "-m",
        "iotcore",
        "--port",
        str(port),
        "--listen",
        "127.0.0.1",
        # rumqttd logs every packet as an error record; only real failures matter here.
        "--log-level",
        "CRITICAL",
    ]


def _start(kind: str, command: object) -> DemoBroker:
    assert callable(command)
    workdir = tempfile.TemporaryDirectory(prefix=f"dcmon-demo-{kind}-")
    port = _free_port()
    argv: list[str] = command(port, Path(workdir.name))
    broker = DemoBroker(kind, port, _spawn(argv, Path(workdir.name)), workdir, argv)
    _wait_until_serving(broker)
    logger.info("demo broker: %s", broker.description)
    return broker


def _spawn(argv: list[str], workdir: Path) -> subprocess.Popen[bytes]:
    with (workdir / "broker.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent(_libc()),  # noqa: PLW1509 - only calls prctl (loaded before)
        )


def _wait_until_serving(broker: DemoBroker) -> None:
    """Wait until the broker accepts connections; else stop it and raise ``BrokerUnavailable``."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if broker.process.poll() is not None:
            log = Path(broker.workdir.name) / "broker.log"
            output = log.read_text(errors="replace").strip()
            broker.stop()
            raise BrokerUnavailable(f"{broker.kind} exited at start-up: {output[-300:]}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", broker.port), 0.5),
        ):
            return
        time.sleep(0.05)
    broker.stop()
    raise BrokerUnavailable(
        f"{broker.kind} did not accept connections within {START_TIMEOUT_S:.0f} s"
    )

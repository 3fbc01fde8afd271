"""``dcmon aggregator`` as a real process for tests: started, killed and restarted by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.services import free_port, wait_for_port

REPO = Path(__file__).resolve().parent.parent


class AggregatorProcess:
    """One aggregator process with its config file in ``workdir``; its log in ``log``."""

    def __init__(self, workdir: Path, settings: dict[str, Any]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.config = workdir / "aggregator.yaml"
        self.config.write_text(
            yaml.safe_dump({**settings, "listen": f"127.0.0.1:{self.port}"}), encoding="utf-8"
        )
        self.runs = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """The current run's stderr."""
        return self.workdir / f"aggregator-{self.runs}.log"

    def start(self) -> None:
        """Start a run and wait until its HTTP port answers."""
        self.runs += 1
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "monitor", "aggregator", "--config", str(self.config)],
                env={**os.environ, "PYTHONPATH": str(REPO)},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=self.workdir,
            )
        wait_for_port(self.port, 30)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Send ``sig`` (SIGKILL: a crash) and reap the process."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=20)
        self.process = None

    def log_text(self) -> str:
        """What the current run logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def json(self, path: str) -> Any:
        """GET ``path`` and parse the JSON answer (any status)."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())

    def metric(self, name: str) -> float | None:
        """The value of the unlabelled metric ``name``."""
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.rsplit(" ", 1)[1])
        return None

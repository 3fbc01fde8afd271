"""Run the SHIPPED mosquitto configuration (config/mosquitto/) on a free loopback port.

The shipped files name container paths (``/mosquitto/config/...``, ``/mosquitto/certs/...``) and
ports 1883 and 8883; a test rewrites exactly those lines, asserting that each one is there, so
that what runs is what ships.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.services import free_port, wait_for_port

MOSQUITTO_DIR = REPO / "config" / "mosquitto"


def rewrite(text: str, replacements: dict[str, str]) -> str:
    """Replace each key of ``replacements`` in ``text``; fail if one is not there."""
    for old, new in replacements.items():
        assert old in text, f"shipped mosquitto config no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def write_password_file(path: Path, users: dict[str, str]) -> None:
    """A mosquitto password file (hashed with the real ``mosquitto_passwd``)."""
    binary = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    path.unlink(missing_ok=True)
    for user, password in users.items():
        create = [] if path.exists() else ["-c"]
        subprocess.run([binary, *create, "-b", str(path), user, password], check=True)


@dataclass
class ShippedBroker:
    """A mosquitto started from one of the shipped config files, with test users.

    ``password_file`` (e.g. the shipped demo ``passwd``) replaces the generated one. With
    ``tls_certs`` (a directory holding ``ca.crt``, ``server.crt`` and ``server.key``) the shipped
    ``conf.d/tls.conf.example`` runs too, on ``tls_port``, rewritten by ``tls_replacements``.
    """

    workdir: Path
    config_name: str
    users: dict[str, str]
    replacements: dict[str, str] = field(default_factory=dict)
    password_file: Path | None = None
    port: int = field(default_factory=free_port)
    tls_certs: Path | None = None
    tls_replacements: dict[str, str] = field(default_factory=dict)
    tls_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Render the config into ``workdir``, start mosquitto and wait for its port."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "conf.d").mkdir(exist_ok=True)
        shutil.copy(MOSQUITTO_DIR / "acl", self.workdir / "acl")
        if self.password_file is not None:
            shutil.copy(self.password_file, self.workdir / "passwd")
        else:
            write_password_file(self.workdir / "passwd", self.users)
        text = (MOSQUITTO_DIR / self.config_name).read_text(encoding="utf-8")
        text = rewrite(
            text,
            {
                "listener 1883\n": f"listener {self.port} 127.0.0.1\n",
                "/mosquitto/config/": f"{self.workdir}/",
                "persistence true\n": "persistence false\n",
                **self.replacements,
            },
        )
        # Running as root, mosquitto would switch to user "mosquitto", who cannot read tmp_path.
        config = self.workdir / "mosquitto.conf"
        config.write_text(text + "\nuser root\n", encoding="utf-8")
        if self.tls_certs is not None:
            tls = (MOSQUITTO_DIR / "conf.d" / "tls.conf.example").read_text(encoding="utf-8")
            tls = rewrite(
                tls,
                {
                    "listener 8883\n": f"listener {self.tls_port} 127.0.0.1\n",
                    "/mosquitto/certs/": f"{self.tls_certs}/",
                    **self.tls_replacements,
                },
            )
            (self.workdir / "conf.d" / "tls.conf").write_text(tls, encoding="utf-8")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        with (self.workdir / "mosquitto.log").open("ab") as log:
            self.process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
        try:
            wait_for_port(self.port)
            if self.tls_certs is not None:
                wait_for_port(self.tls_port)
        except TimeoutError:
            self.stop()
            raise

    def log(self) -> str:
        """What the broker logged so far."""
        return (self.workdir / "mosquitto.log").read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        """Kill the broker and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

"""A throwaway certificate authority for TLS tests, made with the real ``openssl`` command."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def authority(directory: Path, name: str) -> None:
    """A self-signed P-256 CA: ``name.crt`` and ``name.key`` in ``directory``."""
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip


def issue(directory: Path, name: str, ca: str, *, ip_san: bool = False) -> None:
    """A P-256 key and a certificate with CN=name, signed by ``ca`` (SAN IP:127.0.0.1 if asked)."""
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=directory,
    )  # fmt: skip
    extra: list[str] = []
    if ip_san:
        (directory / f"{name}.ext").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
        extra = ["-extfile", f"{name}.ext"]
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", *extra,
        cwd=directory,
    )  # fmt: skip


def client_context(directory: Path, name: str, ca: str = "ca") -> ssl.SSLContext:
    """A TLS client context trusting ``ca`` and presenting the certificate ``name``."""
    context = ssl.create_default_context(cafile=directory / f"{ca}.crt")
    context.load_cert_chain(directory / f"{name}.crt", directory / f"{name}.key")
    return context

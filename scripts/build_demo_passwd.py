"""Build the DEMO broker accounts, ``config/mosquitto/passwd``, for docker-compose.

Usage: ``python scripts/build_demo_passwd.py [TOPOLOGY] [OUTPUT]``
(defaults ``config/topology.yaml`` and ``config/mosquitto/passwd``).

The shipped broker ties client id to user name, so every MQTT connection needs its own account:

- ``aggregator``: the aggregator (an HA pair needs a second account, see docs/operations.md);
- ``healthcheck``: compose's broker healthcheck, which may read only ``$SYS/broker/uptime``;
- one account per center of the registry (user name = center id), all with the simulator's
  password, which ``dcmon simulate --center-accounts`` logs in with.

The passwords are compose's ``DCMON_*_PASSWORD`` variables, or their public demo defaults: set the
same variables when running this script as when running compose. Rerun it after editing the
registry. Hashing is done by the real ``mosquitto_passwd``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from monitor.registry import load_registry

SERVICE_ACCOUNTS = {
    # user name: (environment variable, demo default), as in docker-compose.yml
    "aggregator": ("DCMON_AGGREGATOR_PASSWORD", "dcmon-demo-aggregator"),
    "healthcheck": ("DCMON_HEALTHCHECK_PASSWORD", "dcmon-demo-healthcheck"),
}
CENTER_PASSWORD = ("DCMON_SIMULATOR_PASSWORD", "dcmon-demo-simulator")


def demo_accounts(topology: Path) -> dict[str, str]:
    """User name → password: the service accounts, then every center of ``topology``."""
    accounts = {
        user: os.environ.get(variable, default)
        for user, (variable, default) in SERVICE_ACCOUNTS.items()
    }
    center_password = os.environ.get(*CENTER_PASSWORD)
    for center in load_registry(topology).centers:
        accounts[center.id] = center_password
    return accounts


def write_password_file(path: Path, accounts: dict[str, str]) -> None:
    """Write ``accounts`` hashed, as a mosquitto password file (replaced atomically)."""
    binary = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as plain:
        plain.writelines(f"{user}:{password}\n" for user, password in accounts.items())
    try:
        subprocess.run([binary, "-U", plain.name], check=True)  # hashes the file in place
        Path(plain.name).chmod(0o644)  # the broker in the container runs as another user
        Path(plain.name).replace(path)
    finally:
        Path(plain.name).unlink(missing_ok=True)


def main() -> None:
    """Entry point: ``build_demo_passwd.py [TOPOLOGY] [OUTPUT]``."""
    topology = Path(sys.argv[1] if len(sys.argv) > 1 else "config/topology.yaml")
    output = Path(sys.argv[2] if len(sys.argv) > 2 else "config/mosquitto/passwd")
    accounts = demo_accounts(topology)
    write_password_file(output, accounts)
    print(f"wrote {len(accounts)} demo accounts to {output}")


if __name__ == "__main__":
    main()

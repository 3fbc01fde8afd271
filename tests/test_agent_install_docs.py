"""docs/agent.md's install steps, run as written (short of systemctl): the ```bash tested```
blocks, in order, in a temporary root, on a fresh venv from a copy of this checkout.

What the test changes, and only this: ``/opt/dcmon`` and ``/etc/dcmon`` live under a temporary
directory; ``sudo`` runs the command as is; ``groupadd`` only records the group (the machine's
groups are left alone) and ``install -g G`` fails, as it would, for a group no step created;
the operator's "then edit it" is done by writing the settings this test needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.aggregator_harness import LiveAggregator, aggregator_config, write_small_topology
from tests.services import Mosquitto

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "agent.md"
TESTED_BLOCK = re.compile(r"^```bash tested\n(.*?)^```$", re.MULTILINE | re.DOTALL)
AGGREGATOR_PLACEHOLDER = "http://aggregator.example:9108"
HEAVY = ("aiohttp", "networkx", "prometheus_client", "bcrypt")
SHIMS = {
    "sudo": 'exec "$@"\n',
    "groupadd": (
        '# Records the group instead of creating it.\nfor a in "$@"; do g="$a"; done\n'
        'touch "$DCMON_TEST_GROUPS/$g"\n'
    ),
    "install": (
        "# The real install, after checking -g names a group some step created.\n"
        "args=(); while [ $# -gt 0 ]; do\n"
        '  if [ "$1" = -g ]; then\n'
        '    if [ ! -e "$DCMON_TEST_GROUPS/$2" ]; then\n'
        "      echo \"install: invalid group '$2'\" >&2; exit 1\n"
        "    fi\n"
        "    shift 2; continue\n"
        "  fi\n"
        '  args+=("$1"); shift\n'
        "done\n"
        'exec /usr/bin/install "${args[@]}"\n'
    ),
}

pytestmark = pytest.mark.integration


def marked_blocks() -> list[str]:
    """The shell blocks of docs/agent.md marked ```bash tested, in order."""
    return TESTED_BLOCK.findall(DOC.read_text(encoding="utf-8"))


def rooted(script: str, root: Path) -> str:
    """The script with the system paths moved under ``root``."""
    for path in ("/opt/dcmon", "/etc/dcmon"):
        script = script.replace(path, f"{root}{path}")
    return script


def copy_checkout(target: Path) -> None:
    """What a center gets from a checkout (or a release tarball) of this repository."""
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for name in ("agents", "monitor", "config"):
        shutil.copytree(REPO / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))


def run_block(script: str, workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one block with bash -euo pipefail in ``workdir``."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_docs_mark_the_install_steps_for_testing() -> None:
    """The install, group and config, and check steps are all marked (nothing silently skipped)."""
    blocks = marked_blocks()
    assert len(blocks) == 3
    assert re.search(r"pip install .*\./dcmon", blocks[0])
    assert "groupadd" in blocks[1]
    assert "--once" in blocks[2]


@pytest.mark.timeout(900)
def test_agent_install_steps_work_verbatim_in_a_fresh_venv(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """Following docs/agent.md installs the agent alone (no aggregator dependencies), creates
    the group before using it, and `--once` then reports the center ready."""
    root, workdir, shims, groups = (tmp_path / d for d in ("root", "work", "shims", "groups"))
    for directory in (root, workdir, shims, groups):
        directory.mkdir()
    for name, body in SHIMS.items():
        (shims / name).write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
        (shims / name).chmod(0o755)
    copy_checkout(workdir / "dcmon")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))},
        "PATH": f"{shims}:{os.environ['PATH']}",
        "DCMON_TEST_GROUPS": str(groups),
    }
    env["PATH"] = env["PATH"].replace(str(Path(sys.executable).parent) + ":", "")
    install, configure, check = (rooted(block, root) for block in marked_blocks())

    installed = run_block(install, workdir, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    venv = root / "opt" / "dcmon"
    present = subprocess.run(
        [str(venv / "bin" / "python"), "-c", _FIND_MODULES],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert present == [], f"the agent-only install pulled in {present}"

    configured = run_block(configure, workdir, env)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    settings = root / "etc" / "dcmon" / "agent.yaml"
    assert oct(settings.stat().st_mode & 0o777) == "0o640"
    assert oct(settings.parent.stat().st_mode & 0o777) == "0o750"
    # The operator's "then edit it": this center, this broker, capacity from a static file.
    edited = yaml.safe_load(settings.read_text(encoding="utf-8"))
    edited = {
        "center": "ndc-a",
        "broker": mosquitto.url,
        "capacity": {"source": "static", "static": {"gpus": {"total": 8, "available": 2}}},
        "log_level": edited["log_level"],
    }
    settings.write_text(yaml.safe_dump(edited), encoding="utf-8")

    config = aggregator_config(mosquitto.url, write_small_topology(tmp_path))
    with LiveAggregator(config) as live:
        checked = run_block(check.replace(AGGREGATOR_PLACEHOLDER, live.url), workdir, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "dcmon/v1/centers/ndc-a/capacity" in checked.stdout
    assert f"aggregator {live.url}: knows ndc-a" in checked.stdout


_FIND_MODULES = (
    f"import importlib.util\nprint(' '.join(m for m in {HEAVY!r} if importlib.util.find_spec(m)))"
)

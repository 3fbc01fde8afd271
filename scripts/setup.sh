# Sourced by scripts/test and scripts/demo: makes a fresh Debian/Ubuntu machine ready.
# - installs missing Debian packages with apt-get when running as root (else says what to install)
# - creates .venv and installs dcmon with its dev extras (again only when pyproject.toml changed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DCMON_VENV:-$ROOT/.venv}"
export PATH="$PATH:/usr/sbin:/sbin"

have() { command -v "$1" >/dev/null 2>&1; }

# ensure_debs "command:package" ... — install the packages whose command is missing.
ensure_debs() {
  local missing=()
  for pair in "$@"; do
    have "${pair%%:*}" || missing+=("${pair#*:}")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = "0" ] && have apt-get; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
}

pick_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if have "$candidate" && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      echo "$candidate"; return 0
    fi
  done
  echo "setup: Python 3.11 or newer is required" >&2
  exit 1
}

ensure_venv() {
  local extras="$1" python stamp want
  python="$(pick_python)"
  if [ ! -x "$VENV/bin/python" ]; then
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      ensure_debs "no-such-command-dcmon:python3-venv"
      "$python" -m venv "$VENV"
    fi
  fi
  stamp="$VENV/.dcmon-installed"
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing dcmon into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -e "$ROOT[$extras]"
    echo "$want" > "$stamp"
  fi
  export PATH="$VENV/bin:$PATH"
}

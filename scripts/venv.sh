# Sourced by run_all.sh and run_tests.sh: makes .venv/ on first use, reinstalls it when
# requirements.txt or pyproject.toml changed, and reuses it otherwise.
set -euo pipefail
KIT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$KIT_ROOT/.venv"

# pip's torch (a CUDA build on x86_64) makes the venv about 6 GB; a full disk otherwise shows up
# as "No space left on device" minutes into the install, half-way through torch.
VENV_NEEDS_GB=7

warn_if_disk_is_short() {
  local free_kb
  free_kb=$(df -Pk "$KIT_ROOT" | awk 'NR==2 {print $4}')
  if [ -n "$free_kb" ] && [ "$free_kb" -lt $((VENV_NEEDS_GB * 1024 * 1024)) ]; then
    echo "Warning: $((free_kb / 1024)) MB free on the disk of $KIT_ROOT; the new $VENV needs about" \
         "$VENV_NEEDS_GB GB (torch alone is ~5.5 GB). Free some space if pip fails with 'No space left on device'." >&2
  fi
}

ensure_venv() {
  local py=${PYTHON:-python3}
  local stamp="$VENV/.kit-installed" want
  want=$(cat "$KIT_ROOT/requirements.txt" "$KIT_ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)
  if [ ! -x "$VENV/bin/python" ]; then
    "$py" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))' || {
      echo "singanseg-kit needs Python 3.11 or newer; $py is $("$py" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
      exit 1
    }
    warn_if_disk_is_short
    echo "Creating $VENV ..."
    "$py" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "Installing the kit and its pinned requirements into $VENV (a few minutes the first time) ..."
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$KIT_ROOT/requirements.txt"
    "$VENV/bin/python" -m pip install --quiet --no-deps -e "$KIT_ROOT"
    echo "$want" > "$stamp"
  fi
}

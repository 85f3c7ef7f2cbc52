#!/usr/bin/env bash
# The test suite: ruff (lint and import order), then pytest, notebooks on the smoke preset
# included. Extra arguments go to pytest (e.g. ./run_tests.sh -m slow, ./run_tests.sh tests/data/test_folders.py -x).
source "$(dirname "$0")/scripts/venv.sh"
source "$(dirname "$0")/scripts/browser.sh"
ensure_venv
ensure_chromium
cd "$KIT_ROOT"
"$VENV/bin/ruff" check --quiet . || { echo "ruff check failed: fix the lines above (.venv/bin/ruff check --fix . fixes import order)" >&2; exit 1; }
exec "$VENV/bin/python" -m pytest "$@"

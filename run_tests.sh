#!/usr/bin/env bash
# The test suite, notebooks on the smoke preset included. Extra arguments go to pytest
# (e.g. ./run_tests.sh -m slow, ./run_tests.sh tests/test_data.py -x).
source "$(dirname "$0")/scripts/venv.sh"
ensure_venv
cd "$KIT_ROOT"
exec "$VENV/bin/python" -m pytest "$@"

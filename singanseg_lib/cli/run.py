"""``singanseg run``: the notebook series with papermill (what run_all.sh calls)."""
from __future__ import annotations

from singanseg_lib.cli._common import parse_overrides
from singanseg_lib.kit.runner import run_notebooks


def register(sub) -> None:
    p = sub.add_parser("run", help="run the notebooks in order with a preset",
                       description="Run the ordered notebooks headless. Results: runs/<preset>/ "
                                   "(executed notebooks, PNG figures, a metrics.json per notebook).")
    p.add_argument("--preset", default="classroom",
                   help="smoke | classroom | paper, or a .yaml file (default: classroom)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="override a notebook parameter (repeatable); unknown names are rejected")
    p.add_argument("--only", nargs="+", metavar="NOTEBOOK",
                   help="run only these notebooks: number (01, 05b), stem (01_training) or name (training)")
    p.add_argument("--run-dir", help="where results go (default: runs/<preset>)")
    p.add_argument("--notebooks", help="folder of NN_name.ipynb notebooks (default: the kit's notebooks/)")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    p.set_defaults(func=_run)


def _run(args) -> int:
    run_dir = run_notebooks(args.preset, parse_overrides(args.parameter), only=args.only,
                            run_dir=args.run_dir, notebook_dir=args.notebooks, progress=not args.no_progress)
    print(f"All notebooks done. Results: {run_dir}")
    return 0

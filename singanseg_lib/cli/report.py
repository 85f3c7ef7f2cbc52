"""``singanseg report``: the paper's tables beside a run's numbers, as Markdown and HTML (as notebook 08)."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("report", help="write the paper-vs-ours report of a run directory",
                       description="Collect every <run-dir>/<notebook>/metrics.json and write report.md and "
                                   "report.html: the paper's Tables 1-5 beside this run's numbers, rows not run "
                                   "marked 'not run'.")
    p.add_argument("--run-dir", default="runs/classroom", help="the run to report (default: runs/classroom)")
    p.add_argument("--out", help="folder for report.md and report.html (default: <run-dir>/08_report)")
    p.set_defaults(func=_report)


def _report(args) -> int:
    from singanseg_lib.report.tables import build_report, write_report

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"{run_dir}: no such run directory (run the notebooks first: singanseg run)")
    md, page = write_report(run_dir, Path(args.out) if args.out else run_dir / "08_report")
    tables = build_report(run_dir)
    done = sum(any(src == "ours" and cells[0] != "not run" for _, src, cells in t.lines) for t in tables)
    print(f"{done} of {len(tables)} tables have results. Written: {md} and {page}")
    return 0

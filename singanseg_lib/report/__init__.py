"""The paper's tables beside the kit's: the published numbers (``paper``) and the
paper-vs-ours tables built from a run folder (``tables``). Notebook 08 and ``singanseg report``.
"""
from singanseg_lib.report import paper, tables
from singanseg_lib.report.paper import PAPER_RESULTS, paper_results
from singanseg_lib.report.tables import (
    NOT_RUN,
    TABLES,
    ReportTable,
    build_report,
    compare,
    mean_sd_entry,
    render_html,
    render_markdown,
    tables_of,
    to_frame,
    write_report,
)

__all__ = [
    "paper", "tables", "PAPER_RESULTS", "paper_results", "TABLES", "NOT_RUN", "ReportTable", "compare", "mean_sd_entry", "tables_of",
    "build_report", "render_markdown", "render_html", "write_report", "to_frame"
]

"""Paper vs ours: each of the paper's Tables 1-5 beside this run's numbers (notebook 08).

The report reads every ``<run_dir>/<notebook>/metrics.json`` (:func:`outputs.load_metrics`) and
looks in all of them for the table keys below, so it does not matter which notebook wrote a
table. The paper's numbers come from ``resources/paper_results.yaml`` (copied from the
paper's tables). Every table says where its numbers come from (notebook, preset, seed,
weights, data, commit); rows without a result read "not run" instead of disappearing.

Schema of the entries in a notebook's ``metrics`` (``run.save_metrics({...})``); row keys are
those of ``paper_results.yaml``::

    table1_sifid:        {"rows": {"no_st" | "st_1_1" | "st_1_1000": {"mean": x, "sd": x, "sets": [x, ...]}},
                          "weights": str, "data": str, "settings": str}
    table2_real_vs_fake: {"rows": {"real" | "fake<N>_no_st" | "fake<N>_st_1_1" | "fake<N>_st_1_1000":
                                   {"dice_loss": x, "iou": x, "f_score": x, "accuracy": x, "recall": x,
                                    "precision": x}}, "weights": str, "data": str, "settings": str}
    table3_small_data:   as table 2, rows "real_<R>" and "fake_<10R>" (no augmentation)
    table3_small_data_albumentations: as table 3 with Albumentations on both sides (paper's Discussion)
    table4_fid_gans:     {"rows": {"dcgan" | "progressive_gan" | "fastgan" | "singan_seg" | "singan_seg_st":
                                   {"mean": x, "sd": x, "sets": [x, ...]}}, "weights": str, ...}
    table5_fid_small:    {"rows": {"fastgan" | "singan_seg" | "singan_seg_st":
                                   {"r": [5, 10, ...], "mean": [x, ...], "sd": [x, ...]}}, "weights": str, ...}

``weights`` names the pretrained weights the numbers were computed with (e.g. "random weights: not
comparable with the paper"); ``data`` the real and synthetic data used; ``settings`` what else a
reader needs (epochs, encoder, SIFID layer...). Extra keys are kept and ignored.
:func:`mean_sd_entry` builds the entries of Tables 1 and 4 from per-set values.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from singanseg_lib.kit.files import atomic_write_text
from singanseg_lib.kit.outputs import load_metrics
from singanseg_lib.report.paper import paper_results  # the one loader of paper_results.yaml (re-exported)
from singanseg_lib.segmentation.unetpp import METRIC_NAMES

__all__ = ["TABLES", "NOT_RUN", "ReportTable", "paper_results", "compare", "mean_sd_entry", "tables_of", "build_report",
           "render_markdown",
           "render_html", "write_report", "to_frame"]

NOT_RUN = "not run"


@dataclass(frozen=True)
class TableSpec:
    title: str
    kind: str  # "metrics" (Tables 2-3), "mean_sd" (Tables 1, 4), "series" (Table 5)
    notebook: str  # the notebook that writes it
    paper_key: str  # key in paper_results.yaml (its rows name ours)
    digits: int = 4
    show_paper: bool = True  # False: the paper has no numbers for this table, only its row names
    note: str = ""  # said under the title whatever was run


TABLES: dict[str, TableSpec] = {
    "table1_sifid": TableSpec("Table 1 · SIFID of the synthetic sets vs the real images", "mean_sd", "05_metrics",
                              "table1_sifid"),
    "table2_real_vs_fake": TableSpec("Table 2 · UNet++ trained on real vs synthetic data (3-fold CV average)",
                                     "metrics", "06_real_vs_synthetic", "table2_real_vs_fake"),
    "table3_small_data": TableSpec("Table 3 · small data: R real images vs 10·R synthetic (ST 1:1000)", "metrics",
                                   "07_small_data", "table3_small_data"),
    "table3_small_data_albumentations": TableSpec(
        "Table 3, Discussion variant · as Table 3 with Albumentations on both sides (no numbers in the paper)",
        "metrics", "07_small_data", "table3_small_data", show_paper=False),
    "table4_fid_gans": TableSpec("Table 4 · FID of GANs trained on all images (1,000 real vs 1,000 generated)",
                                 "mean_sd", "05_metrics and 05c_baseline_gans", "table4_fid_gans", 2),
    "table5_fid_small": TableSpec("Table 5 · FID of GANs trained on R images", "series", "05c_baseline_gans",
                                  "table5_fid_small", 2),
}


@dataclass
class ReportTable:
    """One table of the report: a header, then (row, source, cells) lines; source is paper/ours/difference."""

    key: str
    title: str
    context: dict[str, Any]
    columns: list[str]
    lines: list[tuple[str, str, list[str]]] = field(default_factory=list)


def _fmt(x: Any, digits: int) -> str:
    if x is None:
        return NOT_RUN
    if isinstance(x, (list, tuple)):
        return ", ".join(_fmt(v, digits) for v in x)
    return "n/a" if math.isnan(float(x)) else f"{float(x):.{digits}f}"


def _diff(ours: Any, paper: Any, digits: int) -> str:
    if ours is None or paper is None or math.isnan(float(ours)):
        return ""
    return f"{float(ours) - float(paper):+.{digits}f}"


def _three(row: str, paper: list | None, ours: list | None, digits: int, width: int):
    """paper / ours / difference lines of one row; ``None`` values read 'not in paper' / 'not run'."""
    p = paper if paper is not None else [None] * width
    o = ours if ours is not None else [None] * width
    return [(row, "paper", ["not in paper" if v is None else _fmt(v, digits) for v in p]),
            (row, "ours", [_fmt(v, digits) for v in o]),
            (row, "difference", [_diff(a, b, digits) for a, b in zip(o, p)])]


def compare(key: str, ours: Mapping[str, Any] | None, *, context: dict[str, Any] | None = None,
            paper: Mapping[str, Any] | None = None) -> ReportTable:
    """Table ``key`` (see :data:`TABLES`) as paper / ours / difference lines.

    ``ours``: the table entry of a metrics.json (``{"rows": ..., ...}``) or None when not run.
    Rows are the paper's, in its order, then any rows only we have.
    """
    if key not in TABLES:
        raise KeyError(f"unknown table {key!r}; tables: {', '.join(TABLES)}")
    spec = TABLES[key]
    paper = paper if paper is not None else paper_results()
    published = paper.get(spec.paper_key, {})
    ours_rows = dict((ours or {}).get("rows", {}))
    ctx = dict(context or {})
    if spec.note:
        ctx["note"] = spec.note
    if ours is None:
        ctx.setdefault("status", f"not run: run notebook {spec.notebook}")
    for name in ("weights", "data", "settings", "note"):
        if ours and ours.get(name):
            ctx[name] = "; ".join(filter(None, [ctx.get(name), str(ours[name])])) if name == "note" else ours[name]
    if spec.kind == "series":
        r_values = published.get("r") or sorted({r for v in ours_rows.values() for r in v.get("r", [])})
        table = ReportTable(key, spec.title, ctx, [f"R={r}" for r in r_values])
        names = [k for k in published if k != "r"] + [k for k in ours_rows if k not in published]
        for name in names:
            got = ours_rows.get(name)
            mine = dict(zip(got["r"], zip(got["mean"], got["sd"]))) if got else {}
            pub = published.get(name)
            p = [f"{m:.2f} ± {s:.2f}" for m, s in zip(pub["mean"], pub["sd"])] if pub else ["not in paper"] * len(r_values)
            o = [f"{mine[r][0]:.2f} ± {mine[r][1]:.2f}" if r in mine else NOT_RUN for r in r_values]
            d = [_diff(mine[r][0], pub["mean"][i], 2) if r in mine and pub else "" for i, r in enumerate(r_values)]
            table.lines += [(name, "paper", p), (name, "ours", o), (name, "difference", d)]
        return table
    if spec.kind == "metrics":
        columns = list(METRIC_NAMES)
        pub_rows = {k: list(v) for k, v in (published.get("rows") or {}).items()}
        mine = {k: [v.get(c) for c in columns] for k, v in ours_rows.items()}
    else:
        columns = ["mean", "sd", "sets"]
        pub_rows = {k: [v["mean"], v["sd"], None] for k, v in (published.get("rows") or {}).items()}
        mine = {k: [v.get("mean"), v.get("sd"), None] for k, v in ours_rows.items()}
    table = ReportTable(key, spec.title, ctx, columns)
    for name in list(pub_rows) + [k for k in mine if k not in pub_rows]:
        lines = _three(name, pub_rows.get(name), mine.get(name), spec.digits, len(columns))
        if spec.kind == "mean_sd":  # the five sets are shown, not differenced
            pub_sets = (published.get("rows") or {}).get(name, {}).get("sets")
            our_sets = ours_rows.get(name, {}).get("sets")
            lines[0][2][2] = _fmt(pub_sets, spec.digits) if pub_sets else "not in paper"
            lines[1][2][2] = _fmt(our_sets, spec.digits) if our_sets else (NOT_RUN if name not in mine else "")
        table.lines += lines if spec.show_paper else [line for line in lines if line[1] == "ours"]
    return table


def mean_sd_entry(per_set: Mapping[str, Sequence[float]], *, weights: str, data: str = "",
                  settings: str = "") -> dict[str, Any]:
    """A Table 1 or Table 4 entry of metrics.json: ``{"rows": {row: {"mean", "sd", "sets"}}, ...}``.

    ``per_set`` maps a row key of ``paper_results.yaml`` (``"no_st"``, ``"singan_seg"``, ...) to
    the metric of each set; mean and sample SD (ddof 1, as the paper) are taken over sets.
    """
    from singanseg_lib.metrics import mean_sd

    rows = {}
    for row, values in per_set.items():
        mean, sd = mean_sd(values)
        rows[row] = {"mean": mean, "sd": sd, "sets": [float(v) for v in values]}
    return {"rows": rows, "weights": weights, "data": data, "settings": settings}


def tables_of(metrics: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The report's tables found in one notebook's ``metrics`` (entries in the schema above)."""
    return {k: v for k, v in metrics.items() if k in TABLES and isinstance(v, Mapping) and "rows" in v}


def _find(records: Mapping[str, Mapping[str, Any]], key: str) -> tuple[str, Mapping[str, Any], Mapping] | None:
    """The notebook(s) and table ``key`` found in the run. Notebooks may each fill some rows (05 writes
    SinGAN-Seg's rows of Table 4, 05c the baselines'): rows are merged, a later notebook in series
    order winning a row both wrote; ``weights``, ``data`` and ``settings`` are kept per notebook."""
    hits = [(nb, rec, t) for nb, rec in sorted(records.items())
            if (t := tables_of(rec.get("metrics") or {}).get(key)) is not None]
    if len(hits) <= 1:
        return hits[0] if hits else None
    merged: dict[str, Any] = {"rows": {}}
    for nb, _, t in hits:
        merged["rows"].update(t["rows"])
    for name in ("weights", "data", "settings"):
        said = {nb: str(t[name]) for nb, _, t in hits if t.get(name)}
        if len(set(said.values())) == 1:
            merged[name] = next(iter(said.values()))
        elif said:
            merged[name] = "; ".join(f"{nb}: {v}" for nb, v in said.items())
    return " + ".join(nb for nb, _, _ in hits), hits[-1][1], merged


def build_report(run_dir: str | Path) -> list[ReportTable]:
    """Every table of :data:`TABLES` for the run in ``run_dir``, paper / ours / difference."""
    records = load_metrics(run_dir)
    paper = paper_results()
    tables = []
    for key in TABLES:
        hit = _find(records, key)
        if hit is None:
            tables.append(compare(key, None, paper=paper))
            continue
        notebook, record, table = hit
        env = record.get("environment") or {}
        context = {"notebook": notebook, "preset": record.get("preset"), "seed": record.get("seed"),
                   "commit": env.get("commit") or "unknown"}
        if record.get("notes"):
            context["notebook notes"] = "; ".join(record["notes"])
        tables.append(compare(key, table, context=context, paper=paper))
    return tables


def _labelled(t: ReportTable):
    """The lines with the row name on the first line of each row only."""
    previous = None
    for row, src, cells in t.lines:
        yield (row if row != previous else ""), src, cells
        previous = row


def _context_line(t: ReportTable) -> str:
    return " · ".join(f"{k}: {v}" for k, v in t.context.items())


def render_markdown(tables: list[ReportTable], *, figures: Mapping[str, list[str]] | None = None,
                    title: str = "SinGAN-Seg: paper vs this run") -> str:
    """The tables (and figure links, ``{notebook: [relative png paths]}``) as one Markdown document."""
    out = [f"# {title}", ""]
    for t in tables:
        out += [f"## {t.title}", "", f"*{_context_line(t)}*", "",
                "| row | | " + " | ".join(t.columns) + " |", "|---|---|" + "---|" * len(t.columns)]
        out += [f"| {label} | {src} | " + " | ".join(cells) + " |" for label, src, cells in _labelled(t)]
        out.append("")
    for notebook, paths in (figures or {}).items():
        out += [f"## Figures of {notebook}", ""] + [f"![{Path(p).stem}]({p})" for p in paths] + [""]
    return "\n".join(out)


_CSS = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;margin-bottom:2em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}td.row{text-align:left;font-weight:bold}"
        "tr.paper td{background:#f4f4f4}td.notrun{color:#999;font-style:italic}img{max-width:560px;margin:4px}")


def render_html(tables: list[ReportTable], *, figures: Mapping[str, list[str]] | None = None,
                title: str = "SinGAN-Seg: paper vs this run") -> str:
    """The same content as :func:`render_markdown`, as a standalone HTML page."""
    e = html.escape
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{_CSS}</style>"
           f"</head><body><h1>{e(title)}</h1>"]
    for t in tables:
        out.append(f"<h2>{e(t.title)}</h2><p><em>{e(_context_line(t))}</em></p><table><tr><th>row</th><th></th>"
                   + "".join(f"<th>{e(c)}</th>" for c in t.columns) + "</tr>")
        for label, src, cells in _labelled(t):
            tds = "".join(f"<td class='notrun'>{e(c)}</td>" if c == NOT_RUN else f"<td>{e(c)}</td>" for c in cells)
            out.append(f"<tr class='{src}'><td class='row'>{e(label)}</td><td>{src}</td>{tds}</tr>")
        out.append("</table>")
    for notebook, paths in (figures or {}).items():
        out.append(f"<h2>Figures of {e(notebook)}</h2>" + "".join(f"<img src='{e(p)}' alt='{e(p)}'>" for p in paths))
    out.append("</body></html>")
    return "\n".join(out)


def write_report(run_dir: str | Path, out_dir: str | Path, *, figures_here: Sequence[str] = ()) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out_dir`` with links to every notebook's figures.

    ``figures_here``: PNG names in ``out_dir`` itself (the report notebook's own figures), shown first.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    tables = build_report(run_dir)
    figures = {out_dir.name: list(figures_here)} if figures_here else {}
    for notebook, record in sorted(load_metrics(run_dir).items()):
        paths = [run_dir / notebook / name for name in record.get("figures", [])]
        rel = [Path("..", notebook, p.name).as_posix() if out_dir.parent == run_dir else str(p) for p in paths if p.exists()]
        if rel and (run_dir / notebook) != out_dir:
            figures[notebook] = rel
    md = atomic_write_text(out_dir / "report.md", render_markdown(tables, figures=figures))
    page = atomic_write_text(out_dir / "report.html", render_html(tables, figures=figures))
    return md, page


def to_frame(table: ReportTable):
    """A pandas DataFrame of one table (index: row, source) for display in a notebook."""
    import pandas as pd

    index = pd.MultiIndex.from_tuples([(row, src) for row, src, _ in table.lines], names=["row", ""])
    return pd.DataFrame([cells for _, _, cells in table.lines], index=index, columns=table.columns)

"""Write each notebooks/NN_name.ipynb from its py:percent twin (the file to edit and diff).

    .venv/bin/python scripts/sync_notebooks.py          # .py -> .ipynb, outputs stripped
    .venv/bin/python scripts/sync_notebooks.py --check  # exit 1 if any pair differs

In JupyterLab (with jupytext installed, as in .venv) the pair is kept in sync on save; run
this after editing the .py files by hand. tests/test_notebooks.py fails when a pair differs.
"""
from __future__ import annotations

import sys
from pathlib import Path

import jupytext

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    """What must agree between twins: cell type, source and tags."""
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", []))) for c in nb.cells]


def to_notebook(py: Path, old=None):
    """The .ipynb of ``py``; cells keep the ids of ``old`` (the current .ipynb) position by position,
    so a re-sync changes only the cells whose text changed (new ids would touch every cell)."""
    nb = jupytext.read(py)
    old_ids = [c.get("id") for c in old.cells] if old is not None else []
    for cell, cell_id in zip(nb.cells, old_ids):
        if cell_id:
            cell["id"] = cell_id
    nb.metadata["jupytext"] = {"formats": "ipynb,py:percent"}
    nb.metadata["kernelspec"] = KERNELSPEC
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def main(argv: list[str]) -> int:
    stale = []
    for py in sorted(NOTEBOOKS.glob("[0-9][0-9]*_*.py")):
        ipynb = py.with_suffix(".ipynb")
        if "--check" in argv:
            if not ipynb.exists() or cells(jupytext.read(ipynb)) != cells(jupytext.read(py)):
                stale.append(ipynb.name)
        else:
            old = jupytext.read(ipynb) if ipynb.exists() else None
            if old is not None and cells(old) == cells(jupytext.read(py)):
                continue
            jupytext.write(to_notebook(py, old), ipynb)
            print(f"wrote {ipynb.relative_to(NOTEBOOKS.parent)}")
    if stale:
        print("out of sync with their .py twins: " + ", ".join(stale), file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Student copies of the notebook series: the teacher's notebooks (as committed) with every
solution taken out (``singanseg classroom student OUT``).

An exercise's answer sits between nbgrader's markers, in a code cell or a markdown cell::

    ### BEGIN SOLUTION
    ...
    ### END SOLUTION

In a student copy a code solution becomes ``raise NotImplementedError(...)`` (indented as the
solution was) and a markdown answer becomes a prompt; everything else stays as it is, check cells
included. Cells that held a solution, and check cells (tagged ``check``), are tagged
``raises-exception`` there, so that papermill runs a student copy to the end with only those
cells failing. nbgrader's ``generate_assignment`` does the same and more (a database, a course
directory layout, cell ids checked against a gradebook); the kit needs only this, in a few lines,
and keeps the copies runnable by the kit's own runner.
"""
from __future__ import annotations

import re
from pathlib import Path

from singanseg_lib.kit.files import atomic_write_text

__all__ = ["BEGIN", "END", "CHECK_TAG", "EXERCISE_TAG", "student_notebook", "write_student_copies"]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_TAG, EXERCISE_TAG, RAISES = "check", "exercise", "raises-exception"
CODE_STUB = 'raise NotImplementedError("exercise: replace this line with your answer")'
MARKDOWN_STUB = "*Your answer:* …"
_BLOCK = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)", re.M | re.S)


def _strip(source: str, cell_type: str, where: str) -> tuple[str, int]:
    if source.count(BEGIN) != source.count(END):
        raise ValueError(f"{where}: {source.count(BEGIN)} '{BEGIN}' but {source.count(END)} '{END}'")

    def stub(m: re.Match) -> str:
        return m.group(1) + (CODE_STUB if cell_type == "code" else MARKDOWN_STUB) + m.group(2)
    out, n = _BLOCK.subn(stub, source)
    if BEGIN in out or END in out:
        raise ValueError(f"{where}: a '{BEGIN}' without its '{END}' after it (or nested markers)")
    return out, n


def student_notebook(nb, name: str = "notebook"):
    """A copy of the nbformat notebook ``nb`` without solutions (``nb`` is left as it was)."""
    import copy

    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        source, n = _strip(cell.source, cell.cell_type, f"{name}, cell {i}")
        tags = list(cell.metadata.get("tags", []))
        if n and cell.cell_type == "code" or CHECK_TAG in tags:
            tags = tags + [t for t in (RAISES,) if t not in tags]
        cell.source = source
        if tags:
            cell.metadata["tags"] = tags
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return out


def write_student_copies(notebook_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> list[Path]:
    """Student copies of every ``NN_name.ipynb`` of ``notebook_dir`` in ``out_dir``; returns their paths.
    Existing copies are kept unless ``overwrite``."""
    import nbformat

    from singanseg_lib.kit.runner import list_notebooks

    out_dir = Path(out_dir)
    notebooks = list_notebooks(notebook_dir)
    targets = [out_dir / nb.name for nb in notebooks]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{len(existing)} student copies exist already ({existing[0]}, ...); "
                              "pass overwrite=True (--overwrite) to replace them")
    out_dir.mkdir(parents=True, exist_ok=True)
    for nb_path, target in zip(notebooks, targets):
        nb = nbformat.read(nb_path, as_version=4)
        atomic_write_text(target, nbformat.writes(student_notebook(nb, nb_path.name)))
    return targets

"""Run the ordered notebooks headless with papermill, a preset and overrides.

Used by ``run_all.sh``, ``singanseg run`` and the notebook tests. Each notebook in
``notebooks/NN_name.ipynb`` gets the preset entries and ``-p`` overrides it declares in its
``parameters`` cell, plus ``preset`` and ``run_dir``; it writes its figures and ``metrics.json``
under ``<run_dir>/<NN_name>/``. The executed notebooks land in ``<run_dir>/`` and a summary of the
run in ``<run_dir>/run.json``.

Papermill only warns about a parameter a notebook does not declare; here a preset key no notebook
of the series declares, an override no selected notebook declares, or a value of the wrong type,
is an error before anything runs. A run directory is written by one run at a time (kit/lock.py).
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from singanseg_lib.kit import paths, presets
from singanseg_lib.kit.env import environment_info
from singanseg_lib.kit.files import atomic_write_json
from singanseg_lib.kit.lock import folder_lock

# Every notebook of the series declares these; the runner sets the first two itself.
REQUIRED_PARAMETERS = ("preset", "run_dir", "seed", "interactive")
# NN_name, or NNx_name for a notebook slotted in after NN (05b_privacy runs after 05_metrics:
# "_" sorts before the letters)
_NOTEBOOK_NAME = re.compile(r"^(\d\d[a-z]?)_[a-z0-9_]+\.ipynb$")


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names the notebook, the cell and the error."""


def list_notebooks(notebook_dir: str | Path | None = None) -> list[Path]:
    """The series in order: ``NN_name.ipynb`` (and ``NNx_name.ipynb``) files sorted by name."""
    notebook_dir = Path(notebook_dir or paths.notebook_dir())
    found = sorted(p for p in notebook_dir.glob("*.ipynb") if _NOTEBOOK_NAME.match(p.name))
    if not found:
        raise FileNotFoundError(f"no notebooks named NN_name.ipynb in {notebook_dir}")
    return found


def select_notebooks(notebooks: list[Path], only: list[str] | None) -> list[Path]:
    """Pick notebooks by number (``01``, ``05b``), stem (``01_training``) or name (``training``), kept in
    series order. A number is the part before the first ``_``: ``05`` is 05_metrics, not 05b_privacy."""
    if not only:
        return notebooks
    chosen = set()
    for want in only:
        want = want.removesuffix(".ipynb")
        hits = [p for p in notebooks if want in (p.stem, *p.stem.split("_", 1))]
        if not hits:
            raise KeyError(f"no notebook matches {want!r}; the series is: {', '.join(p.stem for p in notebooks)}")
        chosen.update(hits)
    return [p for p in notebooks if p in chosen]


def notebook_parameters(path: Path) -> dict[str, dict[str, Any]]:
    """The ``parameters`` cell of a notebook: {name: {inferred_type_name, default, help}}.

    The series is Python, so papermill's Python translator reads the cell directly (papermill's
    own ``inspect_notebook`` also insists on kernel metadata).
    """
    import nbformat
    from papermill.translators import PythonTranslator

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as e:  # nbformat raises several unrelated types for a damaged file
        raise ValueError(f"{path}: not a readable notebook ({e})") from None
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ValueError(f"{path}: no cell tagged 'parameters'")
    return {p.name: p._asdict() for p in PythonTranslator.inspect(cells[0])}


def parse_override(name: str, raw: str, declared_type: str | None) -> Any:
    """A ``-p`` value read by :func:`presets.parse_value` against the type the notebook declares
    (``-p compile_steps off`` stays the str "off"); without a readable annotation, read as YAML."""
    hint = presets.hint_from_name(declared_type)
    if hint is None:
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw
    return presets.parse_value(f"-p {name}", raw, hint)


def _check_value(nb: str, name: str, value: Any, declared_type: str) -> None:
    """:func:`presets.check_type` against the type the notebook declares (not checked when the
    annotation is missing or not a plain hint); the error names notebook, parameter and type."""
    hint = presets.hint_from_name(declared_type)
    if hint is None:
        return
    try:
        presets.check_type(name, value, hint)
    except TypeError:
        raise TypeError(f"{nb}: parameter {name} is {declared_type}, got {value!r}") from None


@dataclass
class NotebookPlan:
    notebook: Path
    parameters: dict[str, Any]
    ignored: list[str] = field(default_factory=list)


def plan_run(preset: str | Path, overrides: dict[str, str] | None = None, *, only: list[str] | None = None,
             run_dir: str | Path | None = None, notebook_dir: str | Path | None = None) -> tuple[Path, list[NotebookPlan]]:
    """Work out what each selected notebook gets, and check it before anything runs.

    ``overrides`` maps names to raw strings (from ``-p name value``). Returns the run directory
    (default ``runs/<preset>``, absolute) and one plan per notebook.
    """
    values = presets.load_preset(preset)
    label = presets.preset_label(preset)
    run_dir = Path(run_dir or Path("runs") / label).resolve()
    series = list_notebooks(notebook_dir)
    notebooks = select_notebooks(series, only)
    declared = {nb: notebook_parameters(nb) for nb in notebooks}
    # a preset file lists the whole series' parameters, so a key is checked against every notebook:
    # one that none declares is a typo that papermill would drop without a word. (The built-in
    # presets are checked against the kit's notebooks by a test; other notebook folders may take fewer.)
    everywhere = {k for nb in series for k in (declared.get(nb) or notebook_parameters(nb))}
    stray = [] if str(preset) in presets.preset_names() else sorted(set(values) - everywhere)
    if stray:
        raise KeyError(f"preset {preset}: {', '.join(stray)} is not a parameter of any notebook; the notebooks take: "
                       f"{', '.join(sorted(everywhere - {'preset', 'run_dir'}))}")
    for nb, params in declared.items():
        missing = [p for p in REQUIRED_PARAMETERS if p not in params]
        if missing:
            raise ValueError(f"{nb}: its parameters cell lacks {', '.join(missing)} (every notebook declares "
                             f"{', '.join(REQUIRED_PARAMETERS)})")
    overrides = dict(overrides or {})
    for name in ("preset", "run_dir"):
        if name in overrides:
            raise ValueError(f"-p {name} is set by the runner; use --preset / --run-dir")
    unknown = [k for k in overrides if not any(k in params for params in declared.values())]
    if unknown:
        known = sorted({k for params in declared.values() for k in params} - {"preset", "run_dir"})
        raise KeyError(f"no selected notebook has parameter(s) {', '.join(unknown)}; "
                       f"they take: {', '.join(known)}")
    plans = []
    for nb, params in declared.items():
        chosen: dict[str, Any] = {k: v for k, v in values.items() if k in params}
        for k, raw in overrides.items():
            if k in params:
                try:
                    chosen[k] = parse_override(k, raw, params[k]["inferred_type_name"])
                except TypeError as e:
                    raise TypeError(f"{nb.name}: parameter {k} is {params[k]['inferred_type_name']}; {e}") from None
        # explorers are for people in JupyterLab (the notebooks' default); a headless run shows none
        chosen.setdefault("interactive", False)
        for k, v in chosen.items():
            _check_value(nb.name, k, v, params[k]["inferred_type_name"])
        chosen.update(preset=label, run_dir=str(run_dir))
        plans.append(NotebookPlan(nb, chosen, ignored=sorted(set(values) - set(params))))
    return run_dir, plans


def _unexpected_errors(executed: Path) -> int:
    """Cells of an executed notebook that failed without the ``raises-exception`` tag (nbclient runs
    on past such a cell; papermill reports it as a failure all the same)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    return sum(any(o.get("output_type") == "error" for o in c.get("outputs", []))
               and "raises-exception" not in c.metadata.get("tags", []) for c in nb.cells)


def execute_notebook(plan: NotebookPlan, run_dir: Path, *, progress: bool = True) -> Path:
    """Execute one notebook into ``run_dir``; a failure raises :class:`NotebookFailed` naming the cell."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    out = run_dir / plan.notebook.name
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(str(plan.notebook), str(out), parameters=plan.parameters,
                                   kernel_name="python3", cwd=str(plan.notebook.parent),
                                   progress_bar=progress, report_mode=False)
    except PapermillExecutionError as e:
        if not _unexpected_errors(out):  # only cells tagged raises-exception failed: a student copy's exercises
            return out
        first_line = (e.source or "").strip().splitlines()[:1]
        raise NotebookFailed(
            f"{plan.notebook.name} failed in cell {e.cell_index} (execution count {e.exec_count}"
            f"{', starting ' + repr(first_line[0]) if first_line else ''}): {e.ename}: {e.evalue}\n"
            f"The executed notebook, with the traceback, is {out}") from None
    return out


def run_notebooks(preset: str | Path = "classroom", overrides: dict[str, str] | None = None, *,
                  only: list[str] | None = None, run_dir: str | Path | None = None,
                  notebook_dir: str | Path | None = None, progress: bool = True) -> Path:
    """Run the selected notebooks in order; return the run directory. Stops at the first failure."""
    run_dir, plans = plan_run(preset, overrides, only=only, run_dir=run_dir, notebook_dir=notebook_dir)
    with folder_lock(run_dir, "running the notebooks"):  # one writer at a time (kit/lock.py)
        summary = {"preset": presets.preset_label(preset), "overrides": overrides or {},
                   "environment": environment_info(), "notebooks": []}
        for plan in plans:
            print(f"[{plan.notebook.stem}] running with {plan.parameters}", flush=True)
            entry = {"notebook": plan.notebook.stem, "parameters": plan.parameters, "status": "running"}
            summary["notebooks"].append(entry)
            start = time.perf_counter()
            try:
                execute_notebook(plan, run_dir, progress=progress)
            except NotebookFailed as e:
                entry.update(status="failed", error=str(e), seconds=round(time.perf_counter() - start, 1))
                atomic_write_json(run_dir / "run.json", summary)
                raise
            entry.update(status="done", seconds=round(time.perf_counter() - start, 1))
            atomic_write_json(run_dir / "run.json", summary)
            print(f"[{plan.notebook.stem}] done in {entry['seconds']:.0f} s", flush=True)
        return run_dir

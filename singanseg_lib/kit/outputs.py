"""What a notebook leaves behind: its folder, its figures and its ``metrics.json``.

Each notebook starts with ``run = start_notebook("01_training", ...)`` in its setup cell. That
seeds everything, resolves the device, makes ``<run_dir>/01_training/`` and prints the
environment. ``run.figure(fig, "fig4_real_vs_fake")`` saves a PNG there (and the notebook still
shows the figure); ``run.save_metrics({...})`` writes ``metrics.json`` with the seed, the
parameters, the environment and what the results were computed with. The report (notebook 07)
reads these files.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from singanseg_lib.kit import paths
from singanseg_lib.kit.env import environment_info, resolve_device, seed_everything
from singanseg_lib.kit.files import atomic_write_json, read_json, save_figure

METRICS_FILE = "metrics.json"


@dataclass
class NotebookRun:
    """One notebook's outputs. ``generator`` is seeded with ``seed`` for sampling functions."""

    name: str
    out_dir: Path
    seed: int
    params: dict[str, Any]
    device: torch.device
    generator: torch.Generator
    figures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def path(self, *parts: str) -> Path:
        """A path inside this notebook's folder (its parent folders made)."""
        p = self.out_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def figure(self, fig, name: str, *, dpi: int = 120) -> Path:
        """Save ``fig`` as ``<out_dir>/<name>.png`` (atomically) and remember it for metrics.json."""
        path = save_figure(fig, self.out_dir / f"{name}.png", dpi=dpi)
        if path.name not in self.figures:
            self.figures.append(path.name)
        return path

    def note(self, text: str) -> None:
        """A caveat that belongs with the results (e.g. 'random weights: not comparable with the paper')."""
        if text not in self.notes:
            self.notes.append(text)

    def save_metrics(self, metrics: dict[str, Any], **extra: Any) -> Path:
        """Write ``metrics.json``: results plus seed, parameters, environment, figures and notes."""
        record = {
            "notebook": self.name,
            "preset": self.params.get("preset"),
            "seed": self.seed,
            "parameters": self.params,
            "environment": environment_info(self.device),
            "figures": self.figures,
            "notes": self.notes,
            **extra,
            "metrics": metrics,
        }
        return atomic_write_json(self.out_dir / METRICS_FILE, record)


def declared_parameters(name: str, namespace: dict[str, Any]) -> dict[str, Any]:
    """The current value of every parameter in notebook ``name``'s ``parameters`` cell.

    Values come from ``namespace`` (the notebook's globals: the defaults, or what papermill
    injected). The names come from the notebook file in the kit's ``notebooks/``, so a parameter
    added to the cell is recorded without anyone listing it.
    """
    from singanseg_lib.kit import runner

    path = paths.notebook_dir() / f"{name}.ipynb"
    declared = runner.notebook_parameters(path)
    missing = [k for k in declared if k not in namespace]
    if missing:
        raise NameError(f"{path}: parameter(s) {', '.join(missing)} are not defined yet; call start_notebook "
                        "in the cell after the parameters cell")
    return {k: namespace[k] for k in declared}


def start_notebook(name: str, *, run_dir: str | Path, seed: int, params: dict[str, Any] | None = None,
                   device: str = "auto", verbose: bool = True) -> NotebookRun:
    """Seed, pick the device and make ``<run_dir>/<name>/``; print what the notebook runs on.

    Every parameter of the notebook's ``parameters`` cell is recorded in metrics.json with the
    value it has in the calling notebook (:func:`declared_parameters`); ``params`` adds derived
    values (a resolved data folder, ...). Called from code that is not a notebook of the series
    (no ``notebooks/<name>.ipynb``, or no ``preset`` and ``run_dir`` among the caller's globals),
    only ``params`` are recorded.
    """
    generator = seed_everything(seed)
    dev = resolve_device(device)
    out_dir = Path(run_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    caller = inspect.currentframe().f_back.f_globals
    recorded: dict[str, Any] = {}
    if (paths.notebook_dir() / f"{name}.ipynb").is_file() and "run_dir" in caller and "preset" in caller:
        recorded = declared_parameters(name, caller)
    run = NotebookRun(name, out_dir, seed, {**recorded, **(params or {})}, dev, generator)
    if verbose:
        env = environment_info(dev)
        print(f"{name}: seed {seed}, device {dev}, torch {env['torch']}, {env['cpu_threads']} CPU threads, "
              f"kit {env['singanseg_kit']} ({env['commit'] or 'not a git checkout'})")
        print(f"outputs: {out_dir}")
    return run


def load_metrics(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Every ``<run_dir>/<notebook>/metrics.json``, keyed by notebook folder name."""
    found = {}
    for path in sorted(Path(run_dir).glob(f"*/{METRICS_FILE}")):
        found[path.parent.name] = read_json(path)
    return found

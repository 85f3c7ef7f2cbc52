"""What a notebook leaves behind: its folder, its figures and its ``metrics.json``.

Each notebook starts with ``run = start_notebook("01_training", ...)`` in its setup cell. That
seeds everything, resolves the device, makes ``<run_dir>/01_training/`` and prints the
environment. ``run.figure(fig, "fig4_real_vs_fake")`` saves a PNG there (and the notebook still
shows the figure); ``run.save_metrics({...})`` writes ``metrics.json`` with the seed, the
parameters, the environment and what the results were computed with. The report (notebook 07)
reads these files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .env import environment_info, resolve_device, seed_everything
from .files import atomic_write_json, read_json
from .viz import save_figure

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


def start_notebook(name: str, *, run_dir: str | Path, seed: int, params: dict[str, Any] | None = None,
                   device: str = "auto", verbose: bool = True) -> NotebookRun:
    """Seed, pick the device and make ``<run_dir>/<name>/``; print what the notebook runs on.

    ``params`` is the notebook's parameters (recorded in metrics.json).
    """
    generator = seed_everything(seed)
    dev = resolve_device(device)
    out_dir = Path(run_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    run = NotebookRun(name, out_dir, seed, dict(params or {}), dev, generator)
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

"""Figures of notebook 05 (SIFID and FID): ours beside the paper's, and per-image SIFID spread."""
from __future__ import annotations

import numpy as np

from singanseg_lib.viz.core import new_figure

__all__ = ["plot_vs_paper", "plot_sifid_spread"]


def plot_vs_paper(rows: dict[str, dict], *, metric: str, note: str = ""):
    """Grouped bars, mean ± SD over sets: ``rows`` = {row: {"ours": (mean, sd), "paper": (mean, sd) or None}}."""
    names = list(rows)
    fig, axes = new_figure(1, 1, size=4.2)
    ax = axes[0][0]
    x = np.arange(len(names))
    for offset, who in ((-0.2, "ours"), (0.2, "paper")):
        vals = [rows[n].get(who) or (np.nan, np.nan) for n in names]
        ax.bar(x + offset, [v[0] for v in vals], 0.4, yerr=[0 if np.isnan(v[1]) else v[1] for v in vals],
               capsize=3, label=who)
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    ax.set_title(f"{metric}: this run vs the paper" + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    return fig


def plot_sifid_spread(results: dict, *, note: str = ""):
    """Box plot of the per-image SIFID values of each set (``{name: SifidResult}``)."""
    fig, axes = new_figure(1, 1, size=4.2)
    ax = axes[0][0]
    names = list(results)
    ax.boxplot([list(results[n].values.values()) for n in names])
    ax.set_xticks(np.arange(1, len(names) + 1), names, fontsize=8)
    ax.set_ylabel("SIFID per synthetic image")
    ax.set_title("SIFID spread per set" + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    return fig

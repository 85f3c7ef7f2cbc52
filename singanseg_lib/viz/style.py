"""Figures of notebook 04 (style transfer): before/after grids (paper Fig. 7), losses over steps,
and how far each set's colours are from the real images'.

Images are H×W×3 uint8 arrays (as read from the sets), masks H×W bool.
"""
from __future__ import annotations

import numpy as np

from singanseg_lib.viz.core import image_grid, new_figure, overlay_mask

__all__ = ["plot_style_grid", "plot_style_losses", "plot_colour_gaps"]


def plot_style_grid(examples: list[dict], ratios: list[str], *, note: str = ""):
    """One row per example: real (style) | generated (content) | ST at each ratio | mask on the last.

    ``examples``: dicts with ``real``, ``generated``, ``styled`` ({ratio: image}), ``mask``, ``name``.
    """
    rows, titles = [], []
    for ex in examples:
        last = ex["styled"][ratios[-1]] if ratios else ex["generated"]
        rows.append([ex["real"], ex["generated"], *[ex["styled"][r] for r in ratios], overlay_mask(last, ex["mask"])])
        titles.append(["real (style)", "generated (content)", *[f"ST {r}" for r in ratios], "mask (unchanged)"])
    fig = image_grid(rows, titles=titles, row_labels=[ex["name"] for ex in examples],
                     suptitle="Style transfer, as paper Fig. 7" + (f"\n{note}" if note else ""))
    return fig


def plot_style_losses(histories: dict, *, note: str = ""):
    """Content and style loss over Adam steps, one line per ratio (``{ratio: StyleHistory}``), log scale."""
    fig, axes = new_figure(1, 2, size=3.6)
    for ratio, history in histories.items():
        steps, content, style = history.arrays()
        axes[0][0].plot(steps, content.mean(1), label=ratio)
        axes[0][1].plot(steps, style.mean(1), label=ratio)
    for ax, name in zip(axes[0], ("content loss (conv5_1 MSE)", "style loss (weighted Gram MSE)")):
        ax.set_yscale("symlog", linthresh=1e-6)
        ax.set_xlabel("Adam step")
        ax.set_title(name, fontsize=9)
        ax.legend(title="content:style", fontsize=8)
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    return fig


def plot_colour_gaps(gaps: dict[str, dict[str, float]], *, note: str = ""):
    """Per set, the mean |difference| of per-channel colour mean and SD between each synthetic
    image and its real image (0-255 grey levels): what style transfer should shrink."""
    names = list(gaps)
    fig, axes = new_figure(1, 1, size=4.0)
    ax = axes[0][0]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [gaps[n]["mean_gap"] for n in names], 0.4, label="|channel mean − real|")
    ax.bar(x + 0.2, [gaps[n]["sd_gap"] for n in names], 0.4, label="|channel SD − real|")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylabel("grey levels (0-255)")
    ax.legend(fontsize=8)
    ax.set_title("Colour statistics vs the real images" + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    return fig

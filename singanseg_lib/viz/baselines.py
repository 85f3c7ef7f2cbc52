"""Figures of notebook 05c: the baseline GANs' samples with their masks, their losses, and FID
against the number of training images (the paper's Fig 13)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import torch

from singanseg_lib.viz.core import image_grid, new_figure, overlay_mask

__all__ = ["plot_gan_samples", "plot_gan_losses", "plot_fid_by_r"]


def plot_gan_samples(samples: Mapping[str, torch.Tensor], *, n: int = 6, note: str = ""):
    """For each GAN (``{name: N x 4 x H x W}`` in [-1, 1]) a row of its first ``n`` samples and, under
    it, the same samples with their generated masks (channel 3 above 0) outlined."""
    rows, labels = [], []
    for name, x in samples.items():
        x = x[:n].float().cpu()
        rows.append([img[:3] for img in x])
        rows.append([overlay_mask(img[:3], img[3] > 0) for img in x])
        labels += [name, f"{name} + mask"]
    return image_grid(rows, row_labels=labels, size=1.6,
                      suptitle="Samples of each GAN, then their masks" + (f"\n{note}" if note else ""))


def plot_gan_losses(losses: Mapping[str, Mapping[str, list[float]]], *, every: int = 10):
    """One panel per GAN: every loss it logged (means over ``every`` steps) against the step."""
    names = list(losses)
    fig, axes = new_figure(1, max(1, len(names)), size=3.4)
    for ax, name in zip(axes[0], names):
        for key, values in losses[name].items():
            ax.plot(every * (np.arange(len(values)) + 1), values, label=key, lw=1)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.suptitle("Training losses (D's and G's; a GAN's losses do not fall like a classifier's)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_fid_by_r(ours: Mapping[str, Mapping[str, list]], paper: Mapping[str, object] | None = None, *, note: str = ""):
    """FID mean ± SD against R for each row of a Table 5 entry (``{row: {"r", "mean", "sd"}}``),
    with the paper's curves dashed (``paper``: its ``table5_fid_small``)."""
    fig, axes = new_figure(1, 1, size=4.6)
    ax = axes[0][0]
    for i, (row, got) in enumerate(ours.items()):
        colour = f"C{i}"
        ax.errorbar(got["r"], got["mean"], yerr=got["sd"], marker="o", color=colour, capsize=3, label=f"{row} (ours)")
        pub = (paper or {}).get(row)
        if pub:
            ax.errorbar(paper["r"], pub["mean"], yerr=pub["sd"], ls="--", color=colour, alpha=0.6, capsize=2,
                        label=f"{row} (paper)")
    ax.set_xlabel("R: real training images (and synthetic images per set)")
    ax.set_ylabel("FID")
    ax.legend(fontsize=7)
    ax.set_title("FID of R-sized sets (paper Fig 13)" + (f"\n{note}" if note else ""), fontsize=9)
    fig.tight_layout()
    return fig

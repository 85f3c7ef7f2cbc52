"""Figures of the segmentation experiments (notebooks 06-08): paper Figs 9-11 and what to look at beside them."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from singanseg_lib.viz.core import SHARE_BIN_WIDTH, hist_polyp_shares, image_grid, new_figure, overlay_mask

__all__ = ["plot_real_vs_fake_iou", "plot_small_data_iou", "plot_polyp_share_histograms", "plot_training_curves",
           "plot_predictions", "plot_paper_vs_ours"]

ST_LABELS = {"no_st": "no ST", "st_1_1": "ST 1:1", "st_1_1000": "ST 1:1000"}
ST_COLOURS = {"no_st": "#9ecae1", "st_1_1": "#4292c6", "st_1_1000": "#08519c"}


def _fake_rows(rows: Mapping[str, Any]) -> tuple[list[int], list[str]]:
    ns = sorted({int(k[4:].split("_")[0]) for k in rows if k.startswith("fake")})
    sts = [s for s in ST_LABELS if any(k.endswith(s) and k.startswith("fake") for k in rows)]
    return ns, sts


def plot_real_vs_fake_iou(ours: Mapping[str, Mapping[str, float]], paper: Mapping[str, Sequence[float]], *,
                          metric: str = "iou", subtitle: str = ""):
    """Paper Fig 9: IoU of UNet++ trained on FAKE-N (bars per style transfer) vs real (line), ours beside the paper's.

    ``ours``: {row: {metric: value, metric_sd: value}} (experiments.summarise); ``paper``: the rows of
    paper_results.yaml's table2 (lists in the paper's column order).
    """
    from singanseg_lib.segmentation.unetpp import METRIC_NAMES

    col = METRIC_NAMES.index(metric)
    fig, axes = new_figure(1, 2, size=4.2)
    for ax, (label, rows, get) in zip(axes[0], (("paper", paper, lambda v: v[col]), ("ours", ours, lambda v: v[metric]))):
        ns, sts = _fake_rows(rows)
        width = 0.8 / max(len(sts), 1)
        for j, st in enumerate(sts):
            vals = [get(rows[f"fake{n}_{st}"]) if f"fake{n}_{st}" in rows else np.nan for n in ns]
            errs = [(rows.get(f"fake{n}_{st}", {}).get(f"{metric}_sd") or 0) if label == "ours" else 0 for n in ns]
            ax.bar(np.arange(len(ns)) + (j - (len(sts) - 1) / 2) * width, vals, width, yerr=errs, capsize=2,
                   color=ST_COLOURS[st], label=ST_LABELS[st])
        if "real" in rows:
            ax.axhline(get(rows["real"]), color="#d62728", lw=2, label="real")
        ax.set_xticks(range(len(ns)), [f"FAKE-{n}" for n in ns])
        ax.set_title(f"{label}{' · ' + subtitle if label == 'ours' and subtitle else ''}", fontsize=9)
        ax.set_ylabel(f"validation {metric}")
        ax.legend(fontsize=7, loc="lower right")
    if paper:
        axes[0][0].set_ylim(0.70, 0.85)  # as the paper's Fig 9 (y from 0.70)
    fig.suptitle("UNet++ trained on real vs synthetic data (Fig 9)")
    fig.tight_layout()
    return fig


def plot_small_data_iou(ours: Mapping[str, Mapping[str, Mapping[str, float]]], paper: Mapping[str, Sequence[float]],
                        *, per_image: int = 10, metric: str = "iou"):
    """Paper Fig 11: IoU vs R for R real images and per_image·R synthetic; the paper's panel, then ours.

    ``ours``: {variant label: {row: {metric: value}}}, e.g. {"no augmentation": ..., "Albumentations": ...}.
    """
    from singanseg_lib.segmentation.unetpp import METRIC_NAMES

    col = METRIC_NAMES.index(metric)
    fig, axes = new_figure(1, 2, size=4.2)
    ax = axes[0][0]
    pr = sorted(int(k[5:]) for k in paper if k.startswith("real_"))
    ax.plot(pr, [paper[f"real_{r}"][col] for r in pr], "o-", color="#d62728", label="real (R)")
    ax.plot(pr, [paper[f"fake_{10 * r}"][col] for r in pr], "s--", color="#08519c", label="synthetic (10·R)")
    ax.set_title("paper", fontsize=9)
    ax = axes[0][1]
    styles = ["-", ":", "-."]
    for i, (variant, rows) in enumerate(ours.items()):
        rs = sorted(int(k[5:]) for k in rows if k.startswith("real_"))
        ax.plot(rs, [rows[f"real_{r}"][metric] for r in rs], "o" + styles[i % 3], color="#d62728",
                label=f"real (R) · {variant}")
        fr = [r for r in rs if f"fake_{per_image * r}" in rows]
        ax.plot(fr, [rows[f"fake_{per_image * r}"][metric] for r in fr], "s" + styles[i % 3], color="#08519c",
                label=f"synthetic ({per_image}·R) · {variant}")
    ax.set_title("ours", fontsize=9)
    for ax in axes[0]:
        ax.set_xlabel("R (real training images)")
        ax.set_ylabel(f"validation {metric}")
        ax.legend(fontsize=7)
    fig.suptitle("Small data: real vs synthetic (Fig 11)")
    fig.tight_layout()
    return fig


def plot_polyp_share_histograms(real: Mapping[int, Sequence[float]], fake: Mapping[int, Sequence[float]], *,
                                bin_width: float = SHARE_BIN_WIDTH):
    """Paper Fig 10: polyp share of the masks (% of the image, bins of ``bin_width`` percentage points)
    of R real images (top) and their synthetic sets (bottom); shares are fractions in [0, 1]."""
    rs = sorted(real)
    fig, axes = new_figure(2, len(rs), size=2.2, sharex=True)
    for j, r in enumerate(rs):
        for i, (label, shares, colour) in enumerate((("real", real[r], "#d62728"), ("synthetic", fake[r], "#08519c"))):
            ax = axes[i][j]
            hist_polyp_shares(ax, shares, bin_width=bin_width, color=colour)
            ax.set_title(f"{label}, {len(shares)} masks", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[1][j].set_xlabel("polyp share (%)", fontsize=8)
    fig.suptitle("Polyp size distribution: real (top) vs synthetic (bottom) (Fig 10)")
    fig.tight_layout()
    return fig


def plot_training_curves(results: Sequence[Mapping[str, Any]], *, title: str = "Validation IoU per epoch"):
    """Validation IoU (solid) and training Dice loss (dotted) per epoch of each run, the best epoch marked."""
    fig, axes = new_figure(1, 2, size=4.0)
    cmap = __import__("matplotlib").colormaps["tab10"]
    for i, r in enumerate(results):
        h = r["history"]
        label = f"{r['row']}{' fold ' + str(r['fold'] + 1) if r['experiment'] == 'real_vs_fake' else ''}"
        axes[0][0].plot([x["epoch"] + 1 for x in h], [x["val_iou"] for x in h], color=cmap(i % 10), label=label)
        axes[0][0].plot(r["best_epoch"] + 1, r["metrics"]["iou"], "*", color=cmap(i % 10), ms=9)
        axes[0][1].plot([x["epoch"] + 1 for x in h], [x["train_dice_loss"] for x in h], ":", color=cmap(i % 10))
    axes[0][0].set(xlabel="epoch", ylabel="validation IoU (★ best: the kept checkpoint)")
    axes[0][1].set(xlabel="epoch", ylabel="training Dice loss")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_predictions(images: np.ndarray, masks: np.ndarray, predictions: Mapping[str, np.ndarray], *, n: int = 4):
    """Validation images with the true mask and each model's predicted mask overlaid (one column per image)."""
    n = min(n, len(images))
    rows = [[overlay_mask(images[i], masks[i]) for i in range(n)]]
    rows += [[overlay_mask(images[i], pred[i]) for i in range(n)] for pred in predictions.values()]
    return image_grid(rows, row_labels=["ground truth"] + list(predictions), suptitle="Validation images: truth vs predictions")


def plot_paper_vs_ours(tables: Sequence[Any]):
    """Every number of the paper's Tables 2-3 against ours (one dot per row and metric; the diagonal = agreement)."""
    fig, axes = new_figure(1, 1, size=4.5)
    ax = axes[0][0]
    shown = 0
    for t in tables:
        if t.key not in ("table2_real_vs_fake", "table3_small_data"):
            continue
        lines = {(row, src): cells for row, src, cells in t.lines}
        xs, ys = [], []
        for (row, src), cells in lines.items():
            if src != "paper":
                continue
            for p, o in zip(cells, lines.get((row, "ours"), [])):
                try:
                    x, y = float(p), float(o)
                except ValueError:  # "not run"
                    continue
                xs.append(x)
                ys.append(y)
        ax.scatter(xs, ys, s=14, label=f"{t.title.split('·')[0].strip()} ({len(xs)} numbers)")
        shown += len(xs)
    ax.plot([0, 1], [0, 1], color="#999999", lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="paper", ylabel="ours")
    if not shown:
        ax.text(0.5, 0.5, "no segmentation results in this run yet\n(run notebooks 06 and 07)", ha="center",
                va="center", fontsize=9)
    else:
        ax.legend(fontsize=8)
    ax.set_title("Segmentation metrics: paper vs ours", fontsize=10)
    fig.tight_layout()
    return fig

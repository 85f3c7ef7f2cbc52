"""Figures of notebook 05b (the memorisation audit): linkage, authenticity, mask copies and
diversity against start scale, with and without style transfer."""
from __future__ import annotations

from singanseg_lib.viz.core import new_figure

__all__ = ["plot_privacy_audit"]

# (title, value of a row in a feature space or None for a row-level value, level without memorisation)
_PANELS = (
    ("top-1 linkage (share of samples)", "top1", None),
    ("own-vs-other AUC", "auc", 0.5),
    ("median d(sample, source) / d(source, NN real)", "ratio_median", 1.0),
    ("mask IoU with the training mask (median)", "mask_iou_median", None),
    ("pixel diversity (SD across samples)", "diversity", None),
)


def plot_privacy_audit(rows: list[dict], *, title: str = "", note: str = ""):
    """Five panels against start scale from :func:`singanseg_lib.privacy.summarise` rows: solid
    lines pixels, dashed Inception features; blue without style transfer, orange with it; the
    grey line in the first panel is chance (1 / number of reals). An AUC of 0.5 and a ratio
    of 1 are the no-memorisation levels, drawn dotted."""
    fig, axes = new_figure(1, len(_PANELS), size=3.2)
    spaces = [sp for sp in ("pixels", "inception") if rows and sp in rows[0]]
    for ax, (label, key, level) in zip(axes[0], _PANELS):
        per_space = key in ("top1", "auc", "ratio_median")
        for styled, colour in ((False, "tab:blue"), (True, "tab:orange")):
            part = sorted((r for r in rows if r["styled"] == styled), key=lambda r: r["start_scale"])
            if not part:
                continue
            x, name = [r["start_scale"] for r in part], "ST" if styled else "no ST"
            if per_space:
                for sp, ls in zip(spaces, ("-", "--")):
                    ax.plot(x, [r[sp][key] for r in part], ls, marker="o", color=colour, label=f"{name}, {sp}")
            else:
                ax.plot(x, [r[key] for r in part], marker="o", color=colour, label=name)
            if key == "top1" and not styled:
                ax.plot(x, [r[spaces[0]]["chance_top1"] for r in part], color="grey", lw=1, label="chance")
        if level is not None:
            ax.axhline(level, color="grey", ls=":", lw=1)
        ax.set_xlabel("start scale")
        ax.set_title(label, fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle((title or "What samples give away about their training image") + (f"\n{note}" if note else ""),
                 fontsize=9)
    fig.tight_layout()
    return fig

"""Statistics of a data set: sizes and polyp shares, a summary table, pairs picked across the share range."""
from __future__ import annotations

import collections

import numpy as np

from singanseg_lib.data.folders import Dataset, DatasetPair


def summarize(dataset: Dataset) -> dict:
    """Count, image sizes and polyp-share statistics (shares as fractions in [0, 1])."""
    sizes = collections.Counter(p.size for p in dataset)
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    (common, n_common), = sizes.most_common(1)
    s = dataset.shares
    return {"pairs": len(dataset), "distinct_sizes": len(sizes), "width_min": min(widths),
            "width_max": max(widths), "height_min": min(heights), "height_max": max(heights),
            "most_common_size": f"{common[0]}x{common[1]} ({n_common})", "share_min": float(s.min()),
            "share_median": float(np.median(s)), "share_mean": float(s.mean()), "share_sd": float(s.std()),
            "share_max": float(s.max()), "empty_masks": int(np.count_nonzero(s == 0))}


def summary_table(datasets: dict[str, Dataset]):
    """A pandas table: one column per named data set, shares in percent."""
    import pandas as pd

    rows = {}
    for name, ds in datasets.items():
        stats = summarize(ds)
        rows[name] = {"pairs": stats["pairs"], "distinct image sizes": stats["distinct_sizes"],
                      "width (px)": f"{stats['width_min']}-{stats['width_max']}",
                      "height (px)": f"{stats['height_min']}-{stats['height_max']}",
                      "most common size": stats["most_common_size"],
                      **{f"polyp share {k} (%)": round(100 * stats[f"share_{k}"], 2)
                         for k in ("min", "median", "mean", "sd", "max")},
                      "empty masks": stats["empty_masks"]}
    return pd.DataFrame(rows)


def pick_by_share(dataset: Dataset, n: int) -> list[DatasetPair]:
    """``n`` pairs at evenly spaced quantiles of polyp share, smallest to largest (deterministic)."""
    ranked = sorted(dataset, key=lambda p: (p.polyp_share, p.id))
    n = min(n, len(ranked))
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, n)).astype(int)) if n else []
    return [ranked[i] for i in picks]

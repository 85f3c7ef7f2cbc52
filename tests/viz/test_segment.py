"""Segmentation figures and result helpers: they draw what they are given and say when nothing ran."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from singanseg_lib import (
    report,  # noqa: E402
    viz,
)
from singanseg_lib.segmentation import results as seg_results
from singanseg_lib.segmentation.unetpp import SegmentConfig  # noqa: E402

METRICS = ("dice_loss", "iou", "f_score", "accuracy", "recall", "precision")


def _row(iou):
    return {m: (iou if m == "iou" else 0.5) for m in METRICS} | {"iou_sd": 0.01}


def test_fig9_bars_and_real_line():
    ours = {"real": _row(0.6), "fake1_no_st": _row(0.4), "fake1_st_1_1000": _row(0.5), "fake2_no_st": _row(0.45)}
    paper = report.paper_results()["table2_real_vs_fake"]["rows"]
    fig = viz.plot_real_vs_fake_iou(ours, paper)
    ax_paper, ax_ours = fig.axes[:2]
    assert len(ax_paper.patches) == 15 and len(ax_ours.patches) == 4  # FAKE-2 has no ST 1:1000 run: a NaN bar
    assert ax_ours.lines[-1].get_ydata()[0] == pytest.approx(0.6)


def test_fig11_and_gains():
    rows = {"real_1": _row(0.2), "fake_10": _row(0.35), "real_2": _row(0.3), "fake_20": _row(0.28)}
    gains = seg_results.small_data_gains(rows, per_image=10)
    assert gains == pytest.approx({1: 0.15, 2: -0.02})
    paper = report.paper_results()["table3_small_data"]["rows"]
    fig = viz.plot_small_data_iou({"no augmentation": rows}, paper, per_image=10)
    lines = {line.get_label(): line for line in fig.axes[1].lines}
    assert list(lines["synthetic (10·R) · no augmentation"].get_ydata()) == pytest.approx([0.35, 0.28])
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[0].lines[0].get_xdata()) == 10  # the paper's R = 5..50


def test_fig10_and_predictions():
    fig = viz.plot_polyp_share_histograms({1: [0.1], 2: [0.1, 0.3]}, {1: [0.1, 0.12], 2: [0.2] * 4})
    assert len(fig.axes) == 4 and sum(p.get_height() for p in fig.axes[3].patches) == 4
    images = np.zeros((2, 16, 16, 3), np.uint8)
    masks = np.zeros((2, 16, 16), bool)
    masks[:, 4:8, 4:8] = True
    fig = viz.plot_predictions(images, masks, {"real": masks, "fake_10": ~masks}, n=2)
    assert len(fig.axes) == 6


def test_paper_vs_ours_empty_and_full():
    empty = viz.plot_paper_vs_ours([report.compare("table2_real_vs_fake", None)])
    assert "no segmentation results" in empty.axes[0].texts[0].get_text()
    full = viz.plot_paper_vs_ours([report.compare("table2_real_vs_fake", {"rows": {"real": _row(0.6)}})])
    assert full.axes[0].collections[0].get_offsets().shape == (6, 2)


def test_table_entry_records_settings():
    results = [{"row": "real", "fold": f, "variant": "", "weights": "random init", "seconds": 2.0, "cached": f == 0,
                "n_train": 4, "n_val": 2, "best_epoch": 1, "config": {"augment": True},
                "metrics": _row(0.5 + f / 10)} for f in range(3)]
    table = seg_results.summarise(results)
    assert table["real"]["iou"] == pytest.approx(0.6) and table["real"]["folds"] == [0, 1, 2]
    entry = seg_results.table_entry(table, results, SegmentConfig(), data="d", cv_folds=3)
    assert entry["weights"] == "random init" and entry["cached_runs"] == 1 and entry["train_seconds"] == 4.0
    assert "3-fold CV" in entry["settings"] and "micro" in entry["settings"] and "Albumentations" in entry["settings"]


def test_small_data_rows_named_by_r():
    rows = {"real_5": _row(0.2), "fake_10": _row(0.3)}
    entry = seg_results.table_entry(rows, [], SegmentConfig(), data="d",
                                    per_image=2)
    assert set(entry["rows"]) == {"real_5", "fake_50"} and "2 samples per real image" in entry["data"]
    assert set(seg_results.table_entry(rows, [], SegmentConfig(),
                                       data="d", per_image=10)["rows"]) == {"real_5", "fake_10"}

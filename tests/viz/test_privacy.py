"""The audit figure: one panel per number, one line per feature space and style setting."""
import matplotlib

matplotlib.use("Agg")

from singanseg_lib import viz  # noqa: E402


def _row(s, styled):
    space = {"top1": 0.1 * s, "chance_top1": 0.1, "auc": 0.5, "ratio_median": 1.0}
    return {"start_scale": s, "styled": styled, "pixels": space, "inception": dict(space),
            "mask_iou_median": 0.5, "diversity": 0.2 - 0.05 * s}


def test_plot_privacy_audit(tmp_path):
    rows = [_row(s, st) for st in (False, True) for s in range(3)]
    fig = viz.plot_privacy_audit(rows, note="random weights")
    axes = fig.axes
    assert len(axes) == 5
    labels = [line.get_label() for line in axes[0].lines]
    assert labels == ["no ST, pixels", "no ST, inception", "chance", "ST, pixels", "ST, inception"]
    assert list(axes[0].lines[0].get_ydata()) == [0.0, 0.1, 0.2]
    assert [line.get_label() for line in axes[4].lines] == ["no ST", "ST"]
    assert "random weights" in fig._suptitle.get_text()
    path = viz.save_figure(fig, tmp_path / "audit.png")
    assert path.stat().st_size > 1000

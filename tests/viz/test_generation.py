"""Figures of notebook 02: the panels they draw and that they save as PNG."""
import numpy as np
import torch
from toy_models import make_model

from singanseg_lib import viz
from singanseg_lib.sampling import generate


def _samples(n=3):
    return generate.generate_samples(make_model(), n, seed=0)


def _saved(fig, tmp_path, name):
    path = viz.save_figure(fig, tmp_path / f"{name}.png")
    return path.stat().st_size


def test_real_vs_generated_has_two_rows_per_image(tmp_path):
    s = _samples()
    real, mask = s.images[0], s.masks[0]
    fig = viz.plot_real_vs_generated([("a", real, mask, s.images, s.masks), ("b", real, mask, s.images, s.masks)], n=2)
    axes = np.array(fig.axes).reshape(4, 3)
    assert axes[0][0].get_title() == "real" and axes[0][2].get_title() == "sample 1"
    assert axes[1][1].images[0].get_array().max() == 255  # a mask panel: 0/255
    assert _saved(fig, tmp_path, "fig4") > 5000


def test_mask_mean_sd_panels_use_fixed_ranges(tmp_path):
    s = _samples(4)
    mean, sd = generate.mask_mean_sd(s.masks)
    fig = viz.plot_mask_mean_sd([("a", s.masks[0], mean, sd)])
    panels = [ax for ax in fig.axes if ax.images]
    assert [p.images[0].get_clim() for p in panels[1:]] == [(0, 1), (0, 0.5)]
    assert f"{sd.mean().item():.3f}" in panels[2].get_title()
    assert _saved(fig, tmp_path, "fig5") > 5000


def test_polyp_share_histogram_counts_in_5_point_bins(tmp_path):
    fig = viz.plot_polyp_share_hist([0.12, 0.31], [0.01, 0.02, 0.04, 0.5])
    real_ax, gen_ax = fig.axes[:2]
    assert sum(p.get_height() for p in real_ax.patches) == 2
    heights = [p.get_height() for p in gen_ax.patches]
    assert heights[0] == 3 and sum(heights) == 4 and len(heights) == 20
    assert "n = 4" in gen_ax.get_title()
    assert _saved(fig, tmp_path, "fig6") > 5000


def test_every_share_histogram_has_bin_width_in_percentage_points():
    shares = np.array([0.01, 0.02, 0.04, 0.5])
    figs = [viz.plot_polyp_share_hist(shares, shares, bin_width=10.0),
            viz.plot_polyp_share_histograms({1: shares}, {1: shares}, bin_width=10.0),
            viz.plot_share_histogram({"set": shares}, bin_width=10.0)]
    widths = {round(p.get_width(), 9) for fig in figs for ax in fig.axes for p in ax.patches}
    assert widths == {10.0}
    assert [len(fig.axes[0].patches) for fig in figs] == [10, 10, 5]  # to 100 %; Fig 3 up to the largest share
    assert [p.get_height() for p in figs[2].axes[0].patches] == [3, 0, 0, 0, 1]


def test_start_scales_and_single_sample(tmp_path):
    pyr = make_model()
    sweep = generate.start_scale_sweep(pyr, 2, seed=1, start_scales=[0, pyr.plan.num_scales])
    assert sweep[0]["image_sd"] > sweep[1]["image_sd"] == 0.0  # the reconstruction row does not vary
    fig = viz.plot_start_scales([(r["start_scale"], r["samples"].images, r["samples"].masks) for r in sweep],
                                num_scales=pyr.plan.num_scales)
    assert len([ax for ax in fig.axes if ax.images]) == 4
    assert _saved(fig, tmp_path, "scales") > 5000
    one = viz.plot_sample(sweep[0]["samples"].images[0], torch.zeros(40, 48, dtype=torch.bool), title="x")
    assert len(one.axes) == 3

# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · Style transfer: giving synthetic polyps the look of their real image
#
# SinGAN-Seg's second step. A generated image already has the layout of a polyp image, but its
# colours and fine texture drift from the real image its model learned from. The paper fixes this
# with **neural style transfer** (Gatys et al., 2016): the generated image is the *content*, its
# real training image the *style*, and the pixels are optimised so that
#
# * deep VGG19 features (conv5_1) stay close to the generated image's: the **content loss**;
# * the correlations between feature channels (Gram matrices of conv1_1…conv5_1) move towards the
#   real image's: the **style loss**, which captures colour and texture but not where things are.
#
# Only the RGB channels change: the mask, generated together with the image, is copied byte for
# byte, so image and mask still fit. The paper uses two content:style weightings, 1:1 and 1:1000,
# 1,000 Adam steps each (≈ 20 s per image on an RTX 3080); Table 1 and Table 4 show that this
# step takes SIFID from 0.35 to 0.22 and FID from 98 to 43.
#
# What to look at: the losses over the steps (the style loss falls by orders of magnitude, the
# content loss rises from 0), the before/after grid (paper Fig. 7), and how much closer the colours
# get to the real images with each weighting.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - state the content and style losses of neural style transfer (Gatys et al.) and what each keeps;
# - see what the content:style weighting (1:1 vs 1:1000) does to colours and texture;
# - explain why the mask stays valid: only the RGB channels are optimised.

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # set by the runner: where this notebook's folder goes
seed: int = 0  # recorded with the outputs (style transfer itself starts from the content image: no noise)
interactive: bool = True  # the style explorer after Fig. 7 (the runner sets False: papermill runs show none)
synthetic_dir: str = ""  # the synthetic set to style, empty for <run_dir>/02_generation/synthetic
st_ratios: list = ["1:1", "1:1000"]  # content:style loss weights (paper: 1:1 and 1:1000)
st_steps: int = 100  # Adam steps per image (paper: 1000)
st_size: int = 64  # optimise at this longer side in px, then resize back; 0 for the native size (paper)
st_batch_size: int = 4  # images of one size optimised together
st_samples: int = 2  # style samples 0..N-1 of each real image (FAKE-N); 0 for all (paper: 10)
st_examples: int = 3  # rows of the before/after grid
allow_random_weights: bool = True  # without VGG19 weights, use random ones (labelled: not comparable with the paper)
vgg19_weights: str = ""  # a vgg19-dcbb9e9d.pth file or its folder, empty for the usual places (see weights.py)

# %%
from pathlib import Path

from IPython.display import display

from singanseg_lib import style, viz
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.sampling.manifest import read_manifest

run = start_notebook("04_style_transfer", run_dir=run_dir, seed=seed)
set_dir = Path(synthetic_dir) if synthetic_dir else Path(run_dir) / "02_generation" / "synthetic"
if not read_manifest(set_dir):
    raise FileNotFoundError(f"no synthetic set at {set_dir} (manifest.csv): run 02_generation first "
                            "(or set synthetic_dir to a set in the format of CONTRIBUTING.md)")
size = st_size or None
samples = st_samples or None

# %% [markdown]
# ## 1. The network: VGG19 with ImageNet weights
#
# Style transfer borrows a classifier's eyes. The kit looks for torchvision's VGG19 file
# (`vgg19-dcbb9e9d.pth`, checked by its sha256 prefix) in the usual places and downloads it if it
# can. On a machine without internet, put the file there by hand: the error says where. With
# `allow_random_weights` (the smoke and classroom presets) a seeded random VGG19 stands in; its Gram matrices
# still respond to colour, so the mechanics can be watched, but every number and figure then says
# *random weights: not comparable with the paper*.

# %%
vgg = style.load_vgg19(weights_path=vgg19_weights or None, allow_random=allow_random_weights, device=run.device)
note = "random weights: not comparable with the paper" if vgg.weights.random else ""
if note:
    run.note(f"style transfer: {note}")
print(vgg.label)

# %% [markdown]
# ## 2. One image, step by step
#
# The first synthetic image and its real image, optimised for each weighting while the losses are
# recorded. At step 0 the content loss is exactly 0 (we start from the content image). With 1:1000
# the style term dominates: the picture's colours move a long way; with 1:1 it changes less.

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# Before you run the next cell: over the Adam steps, will the **content** loss rise or fall? By
# how much will the **style** loss change, a few per cent or orders of magnitude?
#
# ### BEGIN SOLUTION
# The content loss starts at exactly 0, because the optimisation starts from the content image,
# and can only rise as the pixels move towards the style. The style loss falls by one to several
# orders of magnitude (the plot uses a log scale for that reason): Gram matrices of a handful of
# feature maps are easy to match. The weighting decides how far the content loss is allowed to
# rise on the way.
# ### END SOLUTION

# %%
first = read_manifest(set_dir)[0]
histories = {ratio: style.transfer_style(*style.example_pair(set_dir, first, size=size, device=run.device), vgg,
                                         ratio=ratio, steps=st_steps, record_every=max(1, st_steps // 50))[1]
             for ratio in st_ratios}
fig = viz.plot_style_losses(histories, note=note)
run.figure(fig, "losses_over_steps")
for ratio, h in histories.items():
    print(f"{ratio}: style loss {h.style[0][0]:.3g} -> {h.style[-1][0]:.3g}, "
          f"content loss {h.content[0][0]:.3g} -> {h.content[-1][0]:.3g}")

# %% [markdown]
# ### Exercise 2 · Another weighting: change it and explain
#
# Style the same image at content:style **1:100**, between the two weightings above, for
# `st_steps` steps (`style.transfer_style` as in the cell above, with `ratio="1:100"`). Store the
# final style loss in `style_100` and the final content loss in `content_100`. Where do they fall
# between the 1:1 and 1:1000 runs, and why?

# %% tags=["exercise"]
### BEGIN SOLUTION
_, h100 = style.transfer_style(*style.example_pair(set_dir, first, size=size, device=run.device), vgg,
                               ratio="1:100", steps=st_steps, record_every=st_steps)
style_100, content_100 = float(h100.style[-1][0]), float(h100.content[-1][0])
### END SOLUTION
print(f"1:100 after {st_steps} steps: style loss {style_100:.3g}, content loss {content_100:.3g}")
for ratio, h in histories.items():
    print(f"{ratio}: style loss {h.style[-1][0]:.3g}, content loss {h.content[-1][0]:.3g}")

# %% tags=["check"]
start = float(histories[st_ratios[0]].style[0][0])  # every run starts from the same image
assert style_100 < start, "the style loss must fall from where it started"
assert content_100 >= 0, "a content loss is a squared distance"

# %% [markdown]
# ### BEGIN SOLUTION
# The more weight on style, the lower the final style loss and the higher the content loss: 1:100
# lands between 1:1 and 1:1000 on both, closer to 1:1000 on the style loss because past a point
# the style loss is already low and extra weight buys little. With few steps (the smoke preset)
# the runs have not converged and the order can be noisy. With random VGG weights (no download
# here) the losses still fall, but "style" then means random-feature statistics, not the
# colours and textures the paper's ImageNet VGG19 sees.
# ### END SOLUTION

# %% [markdown]
# ## 3. The whole set, once per weighting
#
# Each styled set is written beside the generated one as `<set>_ST-<content>_<style>/`, with the
# same file names, the masks copied unchanged and the manifest extended by `st_ratio, st_steps,
# st_size, st_weights`. Images of one size go through VGG19 together as a batch (each with its own
# Gram matrices and loss, so a batch gives exactly what one-by-one would). A rerun skips images
# already done, so an interrupted run simply continues.

# %%
summaries = {ratio: style.style_set(set_dir, ratio=ratio, steps=st_steps, size=size, batch_size=st_batch_size,
                                    samples=samples, vgg=vgg) for ratio in st_ratios}
for ratio, s in summaries.items():
    print(f"{ratio}: {s.out_dir}  {s.written} styled, {s.skipped} already done, {s.seconds:.0f} s")

# %% [markdown]
# ## 4. Before and after (paper Fig. 7)
#
# Left to right: the real image (the style), the generated image (the content), the styled
# results, and the mask drawn on the last one: it is the generated mask, untouched.

# %%
examples = style.style_examples(set_dir, {r: s.out_dir for r, s in summaries.items()}, n=st_examples)
fig = viz.plot_style_grid(examples, st_ratios, note=note)
run.figure(fig, "fig7_before_after")

# %%
if interactive:  # JupyterLab: one example at a time, every ratio side by side
    display(viz.style_explorer(examples))

# %% [markdown]
# ## 5. What the weighting does to the colours
#
# For every image, the gap between its per-channel colour mean (and SD) and its real image's.
# Style transfer should shrink it, more with 1:1000 than with 1:1. Notebook 05 measures the same
# effect with SIFID and FID.

# %%
styled_names = {r["image"] for r in read_manifest(summaries[st_ratios[-1]].out_dir)}
gaps = {"no ST": style.colour_gaps(set_dir, images=styled_names)}
gaps.update({f"ST {r}": style.colour_gaps(s.out_dir, images=styled_names) for r, s in summaries.items()})
for name, g in gaps.items():
    print(f"{name:>10}: |mean gap| {g['mean_gap']:.1f}, |SD gap| {g['sd_gap']:.1f} grey levels ({g['images']} images)")
fig = viz.plot_colour_gaps(gaps, note=note)
run.figure(fig, "colour_gaps")

# %%
run.save_metrics({
    "weights": vgg.label,
    "styled_sets": {r: str(s.out_dir) for r, s in summaries.items()},
    "images_styled": {r: s.written for r, s in summaries.items()},
    "images_skipped": {r: s.skipped for r, s in summaries.items()},
    "seconds_per_image": {r: (s.seconds / s.written if s.written else None) for r, s in summaries.items()},
    "example_losses": {r: {"style_first": float(h.style[0][0]), "style_last": float(h.style[-1][0]),
                           "content_last": float(h.content[-1][0])} for r, h in histories.items()},
    "colour_gaps": gaps,
    **({"note": note} if note else {}),
})

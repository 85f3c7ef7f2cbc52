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
# # 00 · Data: polyps and their masks
#
# SinGAN-Seg learns from **one image and its segmentation mask** at a time, so before any
# training we look closely at the data it learns from.
#
# **Kvasir-SEG** (Jha et al., 2020) holds 1,000 colonoscopy images of polyps, growths on the
# lining of the bowel that can turn into cancer, collected during examinations at Bærum Hospital,
# Norway. For each image a medical doctor drew the outline of the polyp, and an experienced
# gastroenterologist checked it; the outline is stored as a **mask**, an image of the same size
# that is white where the polyp is and black elsewhere. **HyperKvasir** (Borgli et al., 2020), a
# much larger collection of gastrointestinal endoscopy images and videos, ships the same 1,000
# pairs as its "segmented images"; the SinGAN-Seg paper used them.
#
# **Terms of use.** The data are for research and education; other uses, commercial ones in
# particular, need the authors' written permission. Work that uses them cites both papers:
# Kvasir-SEG (MMM 2020, doi:10.1007/978-3-030-37734-2_37) and HyperKvasir (Scientific Data 7:283,
# 2020, doi:10.1038/s41597-020-00622-y). See `data/README.md`.
#
# The kit bundles 36 of the 1,000 pairs (`data/sample/`, chosen to span small to large polyps);
# `singanseg data download` fetches and verifies the full set, and any other folder of images
# and masks can be studied here through the `data_dir` parameter.
#
# In this notebook:
# 1. load and **check** the data set (missing masks, damaged files, masks that are not binary, ...);
# 2. look at images with their masks (the paper's Fig 2) and at the grey levels inside a mask;
# 3. measure **how large the polyps are**: the share of each image they cover (the paper's Fig 3),
#    and the image sizes;
# 4. summarise it all in one table, and make the seeded **3-fold split** that the segmentation
#    experiments (notebooks 06 and 07) use.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - load a folder of images and masks and say what the data check catches (missing masks, damaged files, masks that are not binary);
# - explain why a JPEG mask is binarised at grey level 127 and read its grey-level histogram;
# - describe the polyp-share distribution of Kvasir-SEG (paper Fig 3) and why it matters for synthetic data;
# - make a seeded k-fold split and say why SinGAN-Seg models may only see the training folds.

# %% tags=["parameters"]
preset: str = "classroom"  # preset name (set by the runner)
run_dir: str = "../runs/classroom"  # where results go (set by the runner)
seed: int = 0  # seed of the k-fold split
interactive: bool = True  # a slider to browse every pair at the end (the runner sets False: papermill runs show none)
data_dir: str = ""  # the data set: "" or "sample" (bundled sample), "kvasir" (full Kvasir-SEG) or a folder
mask_pattern: str = ""  # mask file names, e.g. "{stem}_1stHO.png" ("": the known convention most images pair under)
compare_full: bool = True  # also summarise the full Kvasir-SEG (data/kvasir-seg) when it is downloaded
show_pairs: int = 8  # image/mask pairs shown, from the smallest to the largest polyp
share_bin_width: float = 5.0  # bin width of the polyp-share histogram, in percentage points (paper: 5)
n_folds: int = 3  # folds of the k-fold split (paper: 3)

# %%
import numpy as np
from IPython.display import display

from singanseg_lib import data, viz
from singanseg_lib.data import kvasir
from singanseg_lib.kit.outputs import start_notebook

folder = data.resolve_data_dir(data_dir)
name = "bundled sample" if folder == data.sample_dir() else folder.name
run = start_notebook("00_data", run_dir=run_dir, seed=seed, params={"data_folder": str(folder)})
print(f"data set: {folder}")

# %% [markdown]
# ## Loading and checking
#
# Images and masks are paired by file name: `images/cju0qkwl35piu0993l0dewei2.jpg` goes with
# `masks/cju0qkwl35piu0993l0dewei2.jpg`. Every pair is checked before anything trains on it. A
# missing mask, two files of one name, an image and mask of different sizes, a damaged or cut-off
# file, a transparent or 16-bit image, and a mask that is not black-and-white are **errors**
# (the message names each file). A mask without an image, a grayscale image (its grey is copied
# to R, G and B), an opaque alpha channel (dropped) and an empty mask only give **warnings**:
# the data stay usable, but you should know.

# %%
ds = data.load_dataset(folder, mask_pattern=mask_pattern or None)  # warnings, if any, are shown below the cell
print(f"{len(ds)} image/mask pairs ({ds.layout} layout, masks named {data.pairing.describe(ds.mask_pattern)}), "
      f"{len(ds.warnings)} kind(s) of warning")

# %% [markdown]
# ## Images and their masks (paper Fig 2)
#
# Below, pairs picked at evenly spaced quantiles of polyp size, from the smallest polyp to the
# largest: each image with the mask's outline drawn on it, and the mask itself underneath.
# Notice how different the polyps are in size, shape, colour and position, and that many
# images carry a black border or an inset from the endoscope's display: SinGAN-Seg will learn
# those too, because it learns everything in its one training image.

# %%
fig = viz.plot_pairs(data.pick_by_share(ds, show_pairs))
run.figure(fig, "fig2_images_and_masks")

# %% [markdown]
# ## What a mask really contains
#
# Kvasir-SEG stores its masks as JPEG files. JPEG compression is lossy, so a mask is not exactly
# 0 and 255: near the polyp's edge the values wander a little. The kit **binarises** every mask
# at grey level > 127 (as the reference code does), so a pixel counts as polyp when it is closer
# to white than to black. The histogram shows one mask's grey levels on a log scale: two tight
# clusters at the ends and nothing near the threshold, so the choice of threshold does not
# matter for this data set. (A mask with much mid-grey is rejected when loading: it is a soft or
# wrong mask, not a binary one.)

# %%
picks = data.pick_by_share(ds, 3)
grey = data.read_mask_grey(picks[len(picks) // 2].mask)  # the median-sized polyp
fig = viz.plot_mask_values(grey, name=picks[len(picks) // 2].mask.name)
run.figure(fig, "mask_grey_levels")
dark, light = (grey < 32).mean(), (grey > 223).mean()
print(f"{dark:.2%} of the pixels near black (0-31), {light:.2%} near white (224-255), {1 - dark - light:.3%} mid-grey")

# %% [markdown]
# ## How large are the polyps? (paper Fig 3)
#
# The **polyp share** of an image is the fraction of its pixels that the mask marks as polyp.
# The paper notes that small polyps are much more common than large ones; the histogram shows
# whether that holds for the data set here. When the full Kvasir-SEG has been downloaded, it is
# drawn alongside (as densities, so that sets of different sizes compare).

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# Before you run the next cell, write down two guesses: what fraction of the images have a polyp
# that covers **less than a tenth** of the image, and what fraction one that covers **more than
# half**?
#
# ### BEGIN SOLUTION
# In the bundled sample 44 % of the images are under a tenth and one image in 36 (3 %) is over
# half; the median share is about 11 %, as in the full Kvasir-SEG. Most people guess far larger
# polyps: the images shown in papers and on slides are picked because the polyp is easy to see.
# A segmentation model therefore sees mostly background pixels, and a synthetic set should keep
# this distribution rather than favour large, easy polyps.
# ### END SOLUTION

# %%
sets = {name: ds}
if compare_full and kvasir.is_complete() and folder.resolve() != kvasir.DEFAULT_DEST.resolve():
    sets["full Kvasir-SEG"] = data.load_dataset(kvasir.DEFAULT_DEST)
fig = viz.plot_share_histogram({k: v.shares for k, v in sets.items()}, bin_width=share_bin_width)
run.figure(fig, "fig3_polyp_share")

# %% [markdown]
# ### Exercise 2 · Count it
#
# `ds.shares` holds the polyp share of every image, in the order of `ds.ids`. Compute the median
# share (`median_share`) and the fraction of images whose share is below 0.1 (`small_fraction`),
# and compare them with your guesses. The cell after it checks your numbers.

# %% tags=["exercise"]
### BEGIN SOLUTION
shares = np.asarray(ds.shares)
median_share = float(np.median(shares))
small_fraction = float((shares < 0.1).mean())
### END SOLUTION
print(f"median polyp share {median_share:.1%}; {small_fraction:.0%} of the images have a share below 10 %")

# %% tags=["check"]
assert 0 < median_share < 0.3, "most polyps cover a small part of the image: look at the histogram again"
assert abs(small_fraction - np.mean(np.asarray(ds.shares) < 0.1)) < 1e-9, "count the images with share < 0.1, over all images"

# %% [markdown]
# ## Image sizes
#
# The images were not resized to one format: they come at the endoscope's own resolutions.
# SinGAN-Seg does not need one size either. Each model builds its image pyramid from its own
# image, so a wide image gets wide scales, and the coarsest scale is always about 25 pixels on
# its shorter side.

# %%
fig = viz.plot_image_sizes(sets)
run.figure(fig, "image_sizes")

# %% [markdown]
# ## Summary

# %%
display(data.summary_table(sets))

# %% [markdown]
# ## The k-fold split
#
# The paper's segmentation experiments (notebooks 06 and 07) use **3-fold cross-validation**:
# the real images are split into 3 disjoint folds; a model trains on two folds and is validated
# on the third, three times over. SinGAN-Seg generators may only be trained on the training
# folds of a split, otherwise synthetic copies of validation images would leak into training.
# The split depends only on the image ids and the seed; it is saved as `folds.json` in this
# notebook's run folder so that later notebooks use exactly the same one. Similar spreads of
# polyp share across folds mean no fold is unusually easy or hard.

# %%
folds = data.make_folds(ds.ids, min(n_folds, len(ds)), seed=seed, source=str(folder))
folds_path = data.save_folds(folds, run.path("folds.json"))
print(f"{folds.k} folds of {[len(f) for f in folds.folds]} images, seed {seed}: {folds_path}")
fig = viz.plot_fold_shares(ds, folds)
run.figure(fig, "fold_polyp_share")

# %% [markdown]
# ## What to notice
#
# - Masks are binary in meaning but not in storage: JPEG noise sits near 0 and 255, far from the
#   threshold of 127. Other data sets may store masks as PNG with values 0 and 1 (read as 0/255)
#   or as soft probability maps (rejected: binarise them yourself, choosing the threshold).
# - In Kvasir-SEG (the bundled sample and the full set alike) most polyps cover a small part of
#   the image: the median share is about 11 %, and only about 3 % of the polyps cover more than
#   half. (With another data set, its row of the summary table tells; "polyp" then means whatever
#   its masks mark.) A segmentation model sees many more background pixels than polyp pixels, and
#   synthetic data should keep this distribution, which notebook 02 checks.
# - Image sizes vary widely, so every SinGAN-Seg model has its own pyramid (notebook 01).
# - The split is saved with the run: rerunning with the same seed gives the same folds.

# %%
if interactive:
    display(viz.pair_explorer(ds))

# %%
stats = data.summarize(ds)
run.save_metrics({
    "data_dir": str(folder), "layout": ds.layout, "mask_pattern": ds.mask_pattern, "warnings": ds.warnings, **stats,
    "folds": [len(f) for f in folds.folds],
    "full_kvasir": data.summarize(sets["full Kvasir-SEG"]) if "full Kvasir-SEG" in sets else None})

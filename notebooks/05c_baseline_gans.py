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
# # 05c · SinGAN-Seg against data-set GANs: DCGAN, Progressive GAN and FastGAN (Tables 4 and 5)
#
# SinGAN-Seg learns from **one** image per model. The usual way to make synthetic data is the
# opposite: one GAN learns from the **whole data set** and draws new images from what all of them
# have in common. Is a thousand single-image models better than one data-set GAN? The paper
# answers with two comparisons:
#
# * **Table 4**: three data-set GANs changed to emit a 4th (mask) channel beside RGB, trained on
#   all 1,000 Kvasir-SEG images: DCGAN (2016, the plain deep convolutional GAN), Progressive GAN
#   (2018, grows from 4×4 to full size, with a Wasserstein loss) and FastGAN (2021, made for a few
#   hundred images: skip-layer excitation and a discriminator that must also reconstruct its
#   input). (The kit has DCGAN and FastGAN; Progressive GAN is not built yet, so its row stays
#   "not run".) FID of five sets of generated images against the real ones, beside SinGAN-Seg's from
#   notebook 05. The paper: FastGAN 75, SinGAN-Seg 98, with style transfer 43; DCGAN and ProGAN
#   above 260.
# * **Table 5**: when only R = 5 … 50 images exist. FastGAN trained on R images against the R
#   SinGAN-Seg models of the same images, FID of R-sized sets against those R. The paper: FastGAN
#   is unstable at small R, SinGAN-Seg improves steadily as R grows.
#
# **FID with small sets.** FID compares the mean and the 2,048×2,048 covariance of Inception
# features of two sets. With R images the covariance has rank R − 1 at most: the estimate is
# dominated by its error, and FID is biased upwards by an amount that falls as the sets grow
# (Chong & Forsyth 2020). So FID values of sets of different sizes are not comparable, and small
# sets give large values even for good data: compare rows of one R with each other, not with
# Table 4.
#
# **What a classroom run does.** The GANs train on the 36 bundled images at 32 px for a few hundred
# steps with narrow networks (about a minute each on 2 cores), where the paper trained them at
# 64-256 px for each paper's tens of thousands of steps on 1,000 images. The figures show what each
# GAN has learnt in that time; the numbers show the method, not the paper's values. The paper
# preset runs the paper's settings.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - say why a single-image GAN is compared with data-set GANs, and what each needs to train;
# - train a 4-channel GAN and read its samples and masks;
# - explain what FID does with small sets, and read Tables 4 and 5 with that in mind.

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # set by the runner; notebooks 02 and 04 left SinGAN-Seg's sets there
seed: int = 0  # seed of the GANs' initialisation, batches and samples
interactive: bool = True  # browse each GAN's samples by seed (the runner sets False: papermill runs show none)
device: str = "auto"  # auto | cpu | cuda | mps
data_dir: str = ""  # folder with images/ and masks/; empty: the bundled sample in data/sample
gans: list = ["dcgan", "fastgan"]  # Table 4's GANs to train (paper: also Progressive GAN, not built in the kit yet)
gan_images: int = 0  # train on the first N images of the data set (0: all of them, as the paper)
gan_size: int = 32  # side of the GANs' images in px; 0: each paper's (DCGAN 64, ProGAN and FastGAN 256)
gan_width: int = 8  # base channel width of every GAN; 0: each paper's (64 for DCGAN and FastGAN)
gan_iters: int = 300  # training steps of each GAN (paper: each paper's, tens of thousands)
gan_batch_size: int = 16  # images per step (paper: DCGAN 128, ProGAN 16, FastGAN 8)
gan_sets: int = 5  # generated sets per GAN (paper: 5)
gan_set_size: int = 0  # samples per set; 0: as many as real images (paper: 1,000)
table5_r: list = [2, 4, 8]  # Table 5's R values, at most the models of notebook 01 (paper: 5, 10, ..., 50)
table5_iters: int = 200  # FastGAN's steps for each R (paper: as in Table 4)
fid_resize: str = "clean"  # as notebook 05: clean (PIL bicubic on float) or pytorch-fid (bilinear)
fid_batch_size: int = 16  # images per Inception pass
allow_random_weights: bool = True  # without Inception weights, use random ones (labelled: not comparable with the paper)

# %%
from pathlib import Path

from IPython.display import display

from singanseg_lib import baselines, data, metrics, style, viz
from singanseg_lib.baselines import samples, tables
from singanseg_lib.kit.outputs import load_metrics, start_notebook
from singanseg_lib.report import mean_sd_entry
from singanseg_lib.report.paper import paper_results
from singanseg_lib.sampling.generate import sample_seed
from singanseg_lib.sampling.manifest import read_manifest

run = start_notebook("05c_baseline_gans", run_dir=run_dir, seed=seed, device=device)
dataset = data.load_dataset(data.resolve_data_dir(data_dir), progress=False)
dataset = dataset.subset(dataset.ids[:gan_images]) if gan_images else dataset
real_files = [p.image for p in dataset]
paper = paper_results()
fid_net = metrics.load_inception("fid", allow_random=allow_random_weights, device=run.device)
note = "random weights: not comparable with the paper" if fid_net.weights.random else ""
if note:
    run.note(f"FID: {note}")
print(f"{len(dataset)} real images; GANs: {', '.join(gans)}; FID: {fid_net.label}")
for name in gans:
    print(f"{name}: {baselines.get(name).paper}")

# %% [markdown]
# ## 1. Four channels
#
# Each GAN is its paper's network with 4 output channels: RGB, then the mask, in [-1, 1] like the
# image. The real images are stretched to `gan_size` × `gan_size` with their masks (-1 background,
# +1 polyp), and a generated mask is the 4th channel above 0. Where a paper augments the images
# (FastGAN's DiffAugment), colour changes touch RGB only, and shifted or cut-out regions of the mask
# are background: the SinGAN-Seg authors' runs coloured the mask too, so their masks came out grey
# at the edges. Each GAN lists where it departs from its paper:

# %%
for name in gans:
    print(f"{name}:")
    for line in baselines.get(name).deviations:
        print(f"  - {line}")

# %% [markdown]
# ## 2. Training on the data set (Table 4)
#
# Each GAN trains on every image of the data set and then writes `gan_sets` sets of samples in the
# kit's synthetic-set format (`manifest.csv`; the sample's set is its `sample` column, its seed
# regenerates it alone). Training checkpoints as it goes: a rerun continues where it stopped.

# %%
trained, set_dirs = {}, {}
for name in gans:
    trained[name], set_dirs[name] = tables.train_and_sample(
        name, dataset, run.path(name), size=gan_size, iters=gan_iters, batch_size=gan_batch_size, seed=seed,
        width=gan_width, n_sets=gan_sets, n_per_set=gan_set_size or None, device=run.device)
    meta = trained[name].meta
    print(f"{name}: {meta['step']} steps at {meta['config']['size']} px in {meta['seconds']:.0f} s; "
          f"{len(read_manifest(set_dirs[name]))} samples in {set_dirs[name].name}/")
fig = viz.plot_gan_losses({n: t.meta["losses"] for n, t in trained.items()}, every=baselines.train.LOSS_EVERY)
run.figure(fig, "gan_losses")

# %% [markdown]
# What to look at: a GAN's losses do not fall to zero like a classifier's. D and G play against
# each other, and a healthy run keeps both in a band; a D loss near 0 with a rising G loss means D
# has won and G gets no useful gradient.
#
# ### Exercise 1 · Predict, then run
#
# Before you look at the samples: which of the GANs will draw masks that follow the polyp it
# drew, after so few steps? Which will give the lowest FID?
#
# ### BEGIN SOLUTION
# In the paper FastGAN wins among the data-set GANs (FID 75 vs 269 and 284) and its masks follow
# its polyps. A classroom run is too short for that ranking to be safe: DCGAN, the simplest, often
# learns the coarse look (a pink field, a darker border) fastest at 32 px; FastGAN's self-supervised D pays off over
# longer runs. Masks that follow the drawn polyp come later than the colours in every GAN: early
# masks are blobs in the middle of the image, where most polyps are.
# ### END SOLUTION

# %%
shown = {name: samples.sample(t, [sample_seed(seed, i) for i in range(6)]) for name, t in trained.items()}
run.figure(viz.plot_gan_samples(shown, note=f"{gan_iters} steps, {len(dataset)} images"
                                + (f"; {note}" if note else "")), "gan_samples")

# %%
if interactive:  # JupyterLab: any seed of a set's manifest.csv shows that sample again
    display(viz.gan_explorer(trained, seed=read_manifest(set_dirs[gans[0]])[0]["seed"]))

# %% [markdown]
# ### FID of each GAN's sets
#
# Same network and resize as notebook 05's SinGAN-Seg rows, which come in from that notebook's
# metrics (run 05 first for them). All the real images form the real set; notebook 05's SinGAN-Seg
# sets hold one sample of each trained model, so its rows compare fewer images.

# %%
fid = {name: tables.set_fid(d, real_files, net=fid_net, resize=fid_resize, batch_size=fid_batch_size)
       for name, d in set_dirs.items()}
table4_fid_gans = mean_sd_entry(
    {name: list(r.values.values()) for name, r in fid.items()}, weights=fid_net.label,
    data=f"{len(real_files)} real images vs {gan_sets} sets of {max(fid[gans[0]].n_synthetic.values())} samples "
         f"(the paper: 1,000 vs 1,000)" if gans else "",
    settings=f"{gan_size or 'paper'} px, width {gan_width or 'paper'}, {gan_iters} steps of {gan_batch_size}; "
             f"resize {fid_resize}")
published = paper["table4_fid_gans"]["rows"]
singan = load_metrics(run_dir).get("05_metrics", {}).get("metrics", {}).get("table4_fid_gans", {}).get("rows", {})
table4 = {name: {"ours": (row["mean"], row["sd"]), "paper": (published[name]["mean"], published[name]["sd"])}
          for name, row in (table4_fid_gans["rows"] | singan).items() if name in published}
for name, row in table4.items():
    print(f"{name:>16}: FID {row['ours'][0]:8.2f} ± {row['ours'][1]:.2f}   paper {row['paper'][0]:.2f} ± {row['paper'][1]:.2f}")
run.figure(viz.plot_vs_paper(table4, metric="FID (pool3, pytorch-fid Inception)", note=note), "table4_fid_gans")

# %% [markdown]
# ## 3. Few images (Table 5)
#
# FastGAN trains on the first R images of the data set, one model for each R, and writes sets of
# R samples; FID against those R images. SinGAN-Seg's rows take sample k of the notebook 01 models
# of the same R images (notebook 02's set, and notebook 04's style-transferred one at 1:1000), so
# R stops at the number of models notebook 01 trained.

# %%
singan_set = Path(run_dir) / "02_generation" / "synthetic"
styled_set = style.styled_set_dir(singan_set, "1:1000")
modelled = sorted({Path(r["source_image"]).stem for r in read_manifest(singan_set)})
r_values = [r for r in table5_r if 2 <= r <= len(modelled)]
if len(r_values) < len(table5_r):
    run.note(f"Table 5: R = {[r for r in table5_r if r not in r_values]} skipped ({len(modelled)} SinGAN-Seg "
             "model(s) in notebook 02's set; FID needs R >= 2)")
by_row = {"fastgan": {}, "singan_seg": {}, "singan_seg_st": {}}
for r in r_values:
    ids = modelled[:r]
    subset = dataset.subset(ids)
    files = [p.image for p in subset]
    _, fast_sets = tables.train_and_sample("fastgan", subset, run.path(f"table5/fastgan_r{r}"), size=gan_size,
                                           iters=table5_iters, batch_size=min(gan_batch_size, 8), seed=seed,
                                           width=gan_width, n_sets=gan_sets, device=run.device)
    kw = dict(net=fid_net, resize=fid_resize, batch_size=fid_batch_size)
    by_row["fastgan"][r] = tables.set_fid(fast_sets, files, **kw)
    by_row["singan_seg"][r] = tables.set_fid(singan_set, files, sources=ids, n_sets=gan_sets, **kw)
    if read_manifest(styled_set):
        by_row["singan_seg_st"][r] = tables.set_fid(styled_set, files, sources=ids, n_sets=gan_sets, **kw)
by_row = {k: v for k, v in by_row.items() if v}
table5_fid_small = tables.series_entry(
    by_row, weights=fid_net.label,
    data=f"R of the {len(dataset)} images (those with a notebook 01 model); sets of R samples",
    settings=f"FastGAN {table5_iters} steps at {gan_size or 256} px; SinGAN-Seg: notebook 02/04 samples; "
             f"sets per row: " + ", ".join(f"{k} {len(v[r_values[0]].values)}" for k, v in by_row.items()))
for row, got in table5_fid_small["rows"].items():
    print(f"{row:>14}: " + "  ".join(f"R={r}: {m:.1f} ± {s:.1f}" for r, m, s in zip(got["r"], got["mean"], got["sd"])))
run.figure(viz.plot_fid_by_r(table5_fid_small["rows"], paper["table5_fid_small"], note=note), "fig13_fid_by_r")

# %% [markdown]
# What to look at: the curves' order at each R, and how they fall as R grows. Part of every fall
# is FID's small-set bias shrinking, not the images getting better; the gap between two curves at
# one R is the fairer comparison.
#
# ### Exercise 2 · Change it and explain
#
# FID of a set of real images against another set of real images is not 0 when the sets are
# small. The Inception features of the real images are cached from the FID cell above
# (`metrics.set_features`); `metrics.frechet_distance_features(a, b)` is FID between two arrays of
# features. Compute the FID of the first 2 real images against the next 2 and store it in
# `fid_real_2`; then the FID of the first half of the real images against the second half
# (`fid_real_half`). Which is larger, and why?
#
# ### BEGIN SOLUTION
# `fid_real_2` is larger: two sets of 2 real images have different means and covariances just by
# chance, and the smaller the sets, the larger those differences, so FID of real against real
# grows as the sets shrink. This is the floor under Table 5's small-R values: no generator can
# beat real images, so at R = 5 even a perfect one would get a large FID.
# ### END SOLUTION

# %% tags=["exercise"]
### BEGIN SOLUTION
features = metrics.set_features(real_files, fid_net, resize=fid_resize, cache_dir=metrics.default_cache_dir())
half = len(features) // 2
fid_real_2 = metrics.frechet_distance_features(features[:2], features[2:4])
fid_real_half = metrics.frechet_distance_features(features[:half], features[half:2 * half])
### END SOLUTION
print(f"FID real vs real: 2 vs 2 images {fid_real_2:.2f}; {half} vs {half} images {fid_real_half:.2f}")

# %% tags=["check"]
assert fid_real_2 > fid_real_half > 0, "smaller real sets differ more by chance: FID of 2 vs 2 is the larger"

# %%
run.save_metrics({
    "table4_fid_gans": table4_fid_gans,
    "table5_fid_small": table5_fid_small,
    "fid": {name: r.as_dict() for name, r in fid.items()},
    "gans": {name: {"config": t.meta["config"], "seed": t.meta["seed"], "steps": t.meta["step"],
                    "seconds": t.meta["seconds"], "deviations": t.meta["deviations"], "paper": t.meta["paper"]}
             for name, t in trained.items()},
    "fid_weights": fid_net.label,
    **({"note": note} if note else {}),
})

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
# # 02 · Generation: many polyps, with their masks, from one image
#
# Notebook 01 trained one SinGAN-Seg model per real image: a pyramid of small generators, from a
# ~25-pixel scale up to the training size. Here we **use** those models. Generating a sample means
# running the pyramid once from fresh random noise: the coarsest generator turns noise into a
# rough layout (where the polyp is, how large), and every finer generator adds detail to the
# upsampled output of the one below. Because every generator works on 4 channels — RGB plus the
# mask — each sample comes with its own segmentation mask: channel 4, mapped to [0, 1] and
# thresholded at 0.5.
#
# What to look at:
# 1. **Start scale.** Scales below it replay the training image's reconstruction; fresh noise
#    enters from it on. Start scale 0 (the paper's choice) lets the noise decide the layout, so it
#    gives the most diverse samples; higher start scales keep the real layout and vary only
#    texture. (The published package `singan-seg-polyp` uses 5 by default.)
# 2. **Real vs generated** (paper Fig 4): do samples look like the training image's *kind* of
#    scene without copying it, and do the masks follow the generated polyp?
# 3. **Mean and SD of the masks** (Fig 5): where the ten masks of one model agree and where they
#    differ. **Polyp share** (Fig 6 / Fig 10): is the polyp size distribution of the synthetic
#    set like the real one?
#
# At the end we export the **synthetic set** (images, masks and a manifest with a seed per
# sample) that the later notebooks train and measure on.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - generate samples with their masks from a trained pyramid and reproduce one from its seed;
# - explain what the start scale does to diversity (random layout vs the real layout);
# - read mask mean/SD maps (paper Fig 5) and polyp-share histograms (Fig 6) of a synthetic set.

# %% tags=["parameters"]
preset: str = "classroom"  # preset name (set by the runner)
run_dir: str = "../runs/classroom"  # where results go; models are read from <run_dir>/01_training/models
seed: int = 0  # base seed: sample k of every model uses generate.sample_seed(seed, k)
interactive: bool = True  # show the ipywidgets explorer at the end (the runner sets False: papermill runs show none)
device: str = "auto"  # auto | cpu | cuda | mps
n_samples: int = 10  # samples per model in the synthetic set (paper: 10 per image)
start_scale: int = 0  # start scale of the exported set (paper: 0; the singan-seg-polyp package: 5)
gen_batch_size: int = 0  # samples generated at once (0: chosen from the free memory)
original_size: bool = False  # export at the training image's original resolution (paper: the model's size)
gen_precision: str = "float32"  # float32 or bfloat16 convolutions (faster, pixels change slightly)
n_show: int = 3  # models shown in the figures
scale_samples: int = 4  # samples per start scale in the start-scale figure

# %%
import torch

from singanseg_lib import viz
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.sampling import generate, synthetic
from singanseg_lib.singan import checkpoint

run = start_notebook("02_generation", run_dir=run_dir, seed=seed, device=device)
model_dirs = synthetic.training_models(run_dir)
set_dir = run.path("synthetic")
models = {d.name: checkpoint.load_model(d, device=run.device) for d in model_dirs}
print(f"{len(models)} trained model(s) from notebook 01: {', '.join(models)}")

# %% [markdown]
# ## One model, looked at from the inside
#
# Each model records its pyramid: the size of every scale, the width of its networks and the
# amplitude of the noise it adds. Scale 0 starts from pure noise (amplitude 1); finer scales add
# noise scaled to how much the reconstruction still misses there (0.1 × its RMSE), so fine
# scales only nudge the image.

# %%
first = next(iter(models.values()))
plan = first.pyramid.plan
for s, (size, width, amp) in enumerate(zip(plan.sizes, plan.widths, first.pyramid.noise_amps)):
    print(f"scale {s}: {size[0]:>3} x {size[1]:<3} px, {width:>3} channels, noise amplitude {amp:.4f}")

# %% [markdown]
# ## Samples at each start scale
#
# The same seeds in every row: a seed fixes the noise at every scale, so rows differ only in
# where fresh noise begins. Row 0 is free generation; the last row (start scale = number of
# scales) uses no fresh noise at all and repeats the training image's reconstruction.

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# Before you run the next cell: as the start scale rises from 0 to the number of scales, how
# will the spread (SD) of the masks across samples change? Will the polyp move?
#
# ### BEGIN SOLUTION
# The spread falls, and at start scale = number of scales it is exactly 0: no fresh noise enters,
# every sample is the reconstruction. From start scale 1 on the coarsest layout is the real one,
# so the polyp stays where it was and only its outline and texture vary; at start scale 0 the
# noise can move, resize or even remove the polyp (empty masks).
# ### END SOLUTION

# %%
sweep = generate.start_scale_sweep(first.pyramid, scale_samples, seed=seed, precision=gen_precision)
fig = viz.plot_start_scales([(r["start_scale"], r["samples"].images, r["samples"].masks) for r in sweep],
                            num_scales=plan.num_scales)
run.figure(fig, "samples_per_start_scale")
for r in sweep:
    print(f"start scale {r['start_scale']}: pixel SD across samples {r['image_sd']:.3f}, mask SD {r['mask_sd']:.3f}")

# %% [markdown]
# ### Exercise 2 · Read the sweep
#
# Each entry of `sweep` is a dict with `start_scale`, `image_sd` and `mask_sd`. Put the mask SD
# of every start scale, in order, into the list `mask_sds`.

# %% tags=["exercise"]
### BEGIN SOLUTION
mask_sds = [r["mask_sd"] for r in sweep]
### END SOLUTION
print("mask SD by start scale:", [round(v, 3) for v in mask_sds])

# %% tags=["check"]
assert len(mask_sds) == plan.num_scales + 1, "one value per start scale, 0 to the number of scales"
assert mask_sds[0] > mask_sds[-1] == 0, "free generation varies most; the reconstruction does not vary at all"

# %% [markdown]
# The spread across samples falls as the start scale rises: noise that enters at the coarsest
# scale can move and resize the polyp, noise that enters late can only change texture. That is
# why the paper generates with start scale 0 — the most varied training data per real image.
#
# ## The synthetic set
#
# Now every model generates `n_samples` samples (start scale `start_scale`). Sample *k* of a
# model gets its own seed, recorded in `manifest.csv`, so any single sample can be made again
# alone; the first N samples of each image form the paper's FAKE-N sets. A rerun skips samples
# already there.

# %%
export = synthetic.export_models(model_dirs, set_dir, n_per_model=n_samples, seed=seed, start_scale=start_scale,
                                 batch_size=gen_batch_size or None, original_size=original_size,
                                 precision=gen_precision, device=run.device)
print(f"{export.written} written, {export.skipped} already there; {export.samples_per_s:.1f} samples/s; {set_dir}")

# %% [markdown]
# ## Real vs generated (paper Fig 4)
#
# First column: the training image and its expert mask at the size the model saw them. Other
# columns: generated samples (read back from the exported files) with the masks generated with them.

# %%
shown = [synthetic.load_model_samples(set_dir, d) for d in model_dirs[:n_show]]
fig = viz.plot_real_vs_generated([(s.name, s.real_image, s.real_mask, s.images, s.masks) for s in shown], n=5)
run.figure(fig, "fig4_real_vs_generated")

# %% [markdown]
# Look for: samples that rearrange the scene (folds, light, polyp position) rather than copy it,
# and masks that cover the generated polyp. SinGAN learns the statistics of patches of *one*
# image, so its samples stay close to that image's colours and textures.
#
# ## Where the masks agree (paper Fig 5)
#
# Stack the masks of one model and take the mean and the standard deviation at each pixel. The
# mean shows where samples put the polyp; the SD is 0 where all samples agree and 0.5 where half
# of them mark the pixel.

# %%
maps = [(s.name, s.real_mask, *generate.mask_mean_sd(torch.from_numpy(s.masks))) for s in shown]
run.figure(viz.plot_mask_mean_sd(maps), "fig5_mask_mean_sd")

# %% [markdown]
# The paper observed that small polyps vary more than large ones: a small polyp can appear
# anywhere, a large one fills much of the frame in every sample.
#
# ## Polyp size: real vs synthetic (paper Fig 6 / Fig 10)
#
# The share of polyp pixels in each mask, for the real training masks and for every generated mask.

# %%
rows = synthetic.read_manifest(set_dir)
generated_shares = [r["polyp_share"] for r in rows if r["sample"] < n_samples]
real_shares = [generate.polyp_shares(generate.real_mask(m.reals)[None]).item() for m in models.values()]
run.figure(viz.plot_polyp_share_hist(real_shares, generated_shares), "fig6_polyp_share")
share_stats = {"real": generate.share_summary(real_shares), "generated": generate.share_summary(generated_shares)}
print({k: {m: round(v[m], 4) for m in ("n", "mean", "sd", "empty")} for k, v in share_stats.items()})

# %% [markdown]
# With ten samples per image the synthetic distribution is shaped like the real one, but
# smoother: the random layouts spread each real polyp size over nearby sizes (the paper's Fig 10
# shows this for small data sets). Empty masks (share 0) are samples in which the generator drew
# no polyp; count them before training a segmentation model on the set.
#
# ## Explore
#
# In JupyterLab (`interactive`, the default): pick a model, a start scale and a sample seed (any `seed` from
# `manifest.csv` shows that sample again).

# %%
if interactive:
    display(viz.sample_explorer({name: m.pyramid for name, m in models.items()}, seed=rows[0]["seed"]))

# %%
diversity = {s.name: generate.mask_diversity(torch.from_numpy(s.masks)) for s in shown if len(s.masks) > 1}
run.save_metrics({
    "samples_written": export.written, "samples_skipped": export.skipped, "samples_in_set": len(rows),
    "samples_per_s": round(export.samples_per_s, 3), "set_dir": str(set_dir),
    "seeds": {"base_seed": seed, "per_sample": "generate.sample_seed(base_seed, k); recorded in manifest.csv"},
    "polyp_share": share_stats,
    "mask_diversity_mean_sd": diversity, "mask_diversity_overall": sum(diversity.values()) / max(len(diversity), 1),
    "start_scale_sweep": [{k: r[k] for k in ("start_scale", "image_sd", "mask_sd")} for r in sweep],
}, models=[str(d) for d in model_dirs], weights="models trained by notebook 01 in this run_dir")

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
# # 01 · Training SinGAN-Seg: one model per image, an image *and* its mask
#
# SinGAN learns a generative model from a **single** image: small generators, one per scale of an
# image pyramid, each adding detail to an upsampled output of the scale below. SinGAN-Seg
# (Thambawita et al., 2022) makes one change: the mask of the polyp is stacked onto the RGB image
# as a fourth channel, so every generated image comes with its own segmentation mask.
#
# In this chapter we
#
# 1. build the 4-channel training input and the image pyramid,
# 2. train a model and watch its losses while it learns,
# 3. check what each scale learned by reconstructing the real image from a fixed noise map,
# 4. read one training iteration, the algorithm itself, in a dozen lines of PyTorch,
# 5. look at where the training time goes, and
# 6. train one model per image for the chapters that follow (generation, style transfer, metrics,
#    segmentation experiments).
#
# An appendix at the end says how the kit computes the same iteration faster.
#
# Settings follow the reference code (docs/algorithm.md §3-4: WGAN-GP, 3 critic steps per
# iteration, Adam 5e-4, reconstruction weight 10). The `classroom` preset only makes the images smaller and the training
# shorter (the paper: at most 250 px, 2,000 iterations per scale, about an hour per model on a
# GPU; the reference code needs about 13 hours per model on a 2-core CPU).
#
# What to look at: how the pyramid's coarsest scale still shows the polyp's layout; the critic and
# generator losses settling while the reconstruction error falls scale after scale; how little time
# the coarse scales cost compared with the finest.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - build SinGAN-Seg's 4-channel input (RGB + mask) and its image pyramid;
# - read one WGAN-GP training iteration (critic steps, gradient penalty, reconstruction loss) in PyTorch;
# - judge a training from its loss curves and its reconstruction error per scale;
# - say where the training time goes and how many models fit in an hour on this machine.

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # set by the runner: where this notebook's folder goes
seed: int = 0  # seed of every model's training (recorded in each model.json)
interactive: bool = True  # the scale explorer in section 3 (the runner sets False: papermill runs show none)
data_dir: str = ""  # folder with images/ and masks/ (empty: the bundled sample data/sample)
mask_pattern: str = ""  # mask file names, e.g. "{stem}_1stHO.png" ("": the known convention most images pair under)
n_train_images: int = 8  # models to train, one per image, the first images by id (0: every image)
max_size: int = 48  # long side of the finest scale in px (paper: 250)
iters_per_scale: int = 160  # training iterations per scale (paper: 2000)
live_every: int = 50  # redraw the live loss curves every N iterations
time_iterations: int = 3  # iterations timed for the breakdown of one iteration
train_workers: int = 0  # models trained side by side in section 7 (0: one per CPU core; 1 on a GPU)
backend: str = "local"  # local | ray | slurm: where section 7's models train (README: Beyond one machine)
train_fuse: int = 0  # section 7: up to this many models of one scale plan train as one network (0: by device; 1: each alone)

# %%
import dataclasses

import numpy as np
from IPython.display import Markdown, display

from singanseg_lib import data, viz
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.singan import algorithm, diagnostics, many, pyramid, train
from singanseg_lib.singan.checkpoint import load_model

run = start_notebook("01_training", run_dir=run_dir, seed=seed)
cfg = train.TrainConfig(max_size=max_size, iters_per_scale=iters_per_scale, device=str(run.device))
models_dir = run.path("models")
print(cfg)

# %% [markdown]
# ## 1. The training input: RGB + mask as one 4-channel image
#
# Each image is paired with its mask by file name. The network sees both as one tensor of four
# channels, all in [-1, 1]: the RGB values scaled from 0…255, and the mask as +1 (polyp) or −1
# (background). Nothing in the networks or losses treats the fourth channel specially: the model
# simply learns the joint distribution of colours and mask at every scale, which is why the masks
# of generated images fit their polyps.

# %%
pairs = data.load_dataset(data.resolve_data_dir(data_dir), mask_pattern=mask_pattern or None).pairs
chosen = pairs[:n_train_images] if n_train_images else pairs
print(f"{len(pairs)} image/mask pairs in the data folder; training {len(chosen)} model(s)")
first = chosen[0]
image = train.load_training_image(first.image, first.mask)
print(f"{first.id}: tensor {tuple(image.shape)}, range [{image.min():.0f}, {image.max():.0f}]")
run.figure(viz.plot_four_channels(image), "four_channel_input")

# %% [markdown]
# ## 2. The image pyramid
#
# The image is first shrunk so that its long side is at most `max_size`; then the scale factor is
# adjusted per image (about 0.75) so that the coarsest scale's short side is 25 px. Each scale gets
# its own generator and critic, five 3×3 convolutions wide: 32 channels, doubling every 4 scales.
# At 25 px a 3×3 convolution stack already "sees" most of the image, so the coarsest generator
# learns the global layout: where the polyp sits and how large it is. The finer ones learn ever
# smaller details.

# %%
plan = cfg.plan(*image.shape[-2:])  # the sizes and widths of every scale
reals = pyramid.build_pyramid(image, plan)
print(f"{plan.num_scales} scales, factor {plan.scale_factor:.3f}: {plan.sizes}")
run.figure(viz.plot_pyramid(reals, plan.widths), "image_pyramid")

# %% [markdown]
# ### Exercise 1 · A finer pyramid: change it and explain
#
# The paper trains at `max_size` 250, this preset at 48. Make the plan for twice this notebook's
# `max_size` (`dataclasses.replace(cfg, max_size=...)`, then `.plan(...)` as above) and store its
# number of scales in `scales_2x` and the ratio of finest-scale pixel counts (2x plan over this
# plan) in `pixels_ratio`. Before you run it: how many scales more do you expect, and why does
# the training time grow faster than the number of scales?

# %% tags=["exercise"]
### BEGIN SOLUTION
plan_2x = dataclasses.replace(cfg, max_size=2 * max_size).plan(*image.shape[-2:])
scales_2x = plan_2x.num_scales
pixels_ratio = (plan_2x.sizes[-1][0] * plan_2x.sizes[-1][1]) / (plan.sizes[-1][0] * plan.sizes[-1][1])
### END SOLUTION
print(f"{scales_2x} scales instead of {plan.num_scales}; {pixels_ratio:.1f}x the pixels at the finest scale")

# %% tags=["check"]
assert scales_2x > plan.num_scales, "a larger image needs more scales between the 25 px coarsest one and the finest"
assert 3.5 < pixels_ratio < 4.5, "twice the side is about four times the pixels"

# %% [markdown]
# ### BEGIN SOLUTION
# The coarsest scale stays at 25 px and the factor between scales stays near 0.75, so doubling the
# finest side adds about log(2)/log(1/0.75) ≈ 2.4 scales: two or three more at the classroom's
# 48 px (more from a very short pyramid, whose factor is re-fitted). Each new scale is the
# largest so far, and a convolution costs in proportion to its pixels: the finest scale of the 2x
# plan alone costs about 4x this plan's finest, and wider networks (64 channels from the fifth
# scale on) cost more again. That is why the paper's 250 px models take about an hour on a GPU.
# ### END SOLUTION

# %% [markdown]
# ## 3. Training, scale by scale, with live loss curves
#
# Every iteration at scale *n*:
#
# - **critic (D) steps ×3**: a *fake* is made from fresh noise on top of an image generated by the
#   frozen coarser scales; D learns to score real patches high and fakes low, with a gradient
#   penalty (WGAN-GP) that keeps its gradients near norm 1;
# - **generator (G) step**: G learns to fool D, plus a **reconstruction** loss: from one fixed noise
#   map `z_opt` (and the coarser scales' reconstruction), G must reproduce the real image exactly.
#   That anchors each scale to the real image and sets how much noise the next scale gets.
#
# Watch the three curves: the critic loss (negative: D separates real from fake; it rises toward 0
# as G improves), G's adversarial loss, and the reconstruction error on a log scale (it should fall
# at every scale; each new scale starts where the upsampled coarser reconstruction left it).
#
# Models go to `<run_dir>/01_training/models/<image id>/`; a finished model is reused and an
# interrupted one resumes after its last finished scale, so rerunning this notebook costs nothing.

# %%
live = viz.LiveLossPlot(every=live_every, title=f"training losses, image {first.id}")
first_model = train.train_model(image, models_dir / first.id, cfg, seed=seed, callback=live,
                                source={"image_id": first.id, "image_path": str(first.image),
                                        "mask_path": str(first.mask)})
run.figure(viz.plot_loss_history(train.load_history(models_dir / first.id),
                                 title=f"training losses, image {first.id}"), "loss_curves")

# %% [markdown]
# ## 4. What each scale learned: reconstructions
#
# Running the trained pyramid with the fixed noise `z_opt` at the coarsest scale (and no noise
# above) should reproduce the real image at every scale. Generators are now frozen in evaluation
# mode: BatchNorm uses the statistics gathered during training, as it will when generating.

# %%
recs = diagnostics.reconstructions(first_model)
errors = diagnostics.reconstruction_errors(first_model)
before = diagnostics.initial_reconstruction_error(first_model, cfg, seed=seed)
print(f"reconstruction MSE at the finest scale: {errors[-1]:.4f} after training, {before:.4f} with the "
      f"generators at their initial weights")
run.figure(viz.plot_reconstructions(first_model.reals, recs, errors), "reconstruction_per_scale")

# %% [markdown]
# In JupyterLab, move the slider to compare one scale's real image and reconstruction up close.

# %%
if interactive:
    display(viz.scale_explorer(first_model.reals, recs, errors))

# %% [markdown]
# ## 5. The algorithm: one training iteration, written plainly
#
# Here is one iteration at one scale, as the reference code computes it (`singanseg_lib.singan.algorithm`).
# Read it with the description of section 3 beside it: `noise` is this scale's noise map, drawn once
# per iteration; `prevs` are the coarser scales' images, one per critic step, each from fresh
# noise; the critic loop makes `fake`, scores real and fake, and adds the gradient penalty `gp` at
# a random mix `x` of the two; the generator loop adds the adversarial term `err_g` and the
# reconstruction of the real image from `z_opt`. Note that the generator's gradients are zeroed
# before each of its `g_steps` passes and the optimiser steps once: only the last pass counts.

# %%
display(Markdown(f"```python\n{algorithm.iteration_source()}```"))

# %% [markdown]
# The kit trains with a faster computation of exactly this (appendix). Both start from the same
# weights and draw the same random numbers, so after a few iterations they must agree up to
# rounding: differences near 1e-12 (float64) say they compute the same thing.

# %%
agreement = algorithm.compare_with_kit(image, cfg, seed=seed, iterations=3)
print(f"after {agreement['iterations']} iterations at scale 0: losses differ by at most "
      f"{agreement['max_loss_difference']:.1e}, weights by at most {agreement['max_weight_difference']:.1e}")

# %% [markdown]
# ## 6. Where the time goes
#
# The cost of an iteration grows with the number of pixels times the squared channel width, so the
# finest scale dominates. Inside one iteration the critic steps dominate: each computes the
# gradient penalty, whose backward pass differentiates through a gradient (a "double backward").

# %%
meta = first_model.meta
run.figure(viz.plot_time_per_scale(meta["scales"], plan.sizes, plan.widths), "time_per_scale")
phases = diagnostics.time_iteration(first_model, cfg, seed=seed, iterations=time_iterations)
finest = "x".join(map(str, plan.sizes[-1]))
run.figure(viz.plot_iteration_breakdown(phases, title=f"one iteration at the finest scale ({finest} px)"),
           "iteration_breakdown")

# %% [markdown]
# ## 7. One model per image
#
# The chapters that follow need a model for each training image. Models are independent, so on a
# CPU they train side by side, one process per core, each with one thread: at these small sizes
# a second thread speeds a model up by less than 10 %, while a second model in parallel nearly
# halves the wait (`train_workers`; on a GPU one model at a time). Each model is trained exactly
# as above, with the same seeds; finished models are skipped. With `backend = "ray"` (a local Ray
# on this machine's cores, or the cluster this node joined) or `"slurm"` (one job array) the same
# models train on those engines instead, one task per model, and come out the same.
#
# Images whose pyramids have the same **scale plan** (the same size at every scale) can also
# train as one network: convolutions with `groups=M` and BatchNorm over M·C channels compute M
# independent models at once, and each comes out exactly the model trained alone (tested to
# 1e-10 in float64). One small model leaves most of a GPU idle, so there fusing 16 models makes
# a paper-size model-iteration about twice as cheap (`benchmarks/results/gpu_check.json`); on
# this CPU it gains about 1.2x at 48 px and loses at the paper's sizes, and only images of one
# plan can share a network. The table below shows how our images fall into plans (a "bucket" per
# plan): polyp images come in many aspect ratios, so most buckets hold one image.

# %%
jobs = [many.TrainJob(p.id, p.image, p.mask) for p in chosen[1:]]
fuse = train_fuse or many.auto_fuse(cfg)
buckets = many.plan_buckets(jobs, cfg)
sizes = [many.plan_key(b[0], cfg)[0] for b in buckets]
display(Markdown("| scale plan: coarsest … finest (px) | images |\n|---|---|\n" + "\n".join(
    f"| {' … '.join('x'.join(map(str, s)) for s in (sz[0], sz[-1]))} ({len(sz)} scales) | {', '.join(j.id for j in b)} |"
    for sz, b in zip(sizes, buckets))))
print(f"{len(jobs)} models in {len(buckets)} scale plans; up to {fuse} per fused network")
outcomes = many.train_many(jobs, models_dir, cfg, seed=seed, workers=train_workers, fuse=fuse, backend=backend)
failed = [o for o in outcomes if o.status == "failed"]
if failed:
    raise RuntimeError("training failed: " + "; ".join(f"{o.id}: {o.error}" for o in failed))
summaries = [diagnostics.model_summary(first_model, cfg, seed=seed)]
for o in outcomes:
    summaries.append(diagnostics.model_summary(load_model(o.model_dir, device=run.device), cfg, seed=seed))
    print(f"{o.id}: reconstruction MSE {summaries[-1]['rec_mse_finest']:.4f} "
          f"(initial {summaries[-1]['rec_mse_finest_at_initialisation']:.4f}), {summaries[-1]['seconds_total']:.0f} s")

# %% [markdown]
# ## What we saw
#
# - The mask is just a fourth channel; the pyramid keeps the polyp's layout down to 25 px.
# - Each scale's reconstruction error falls far below where it started: the pyramid can rebuild
#   its image from one noise map, and that anchor lets fresh noise produce *new* variations of it
#   (next chapter).
# - Training time is spent at the finest scales and, within an iteration, in the critic's gradient
#   penalty.

# %% [markdown]
# ## Appendix: how the kit computes the same iteration faster
#
# The kit computes the reference's algorithm without its waste: the coarser scales' images for
# all critic steps in one batched pass without gradients, resized on the device in float (the
# reference re-runs every coarser generator and an 8-bit CPU resize at every critic step); one
# generator gradient where the reference computes three identical ones, with BatchNorm's running
# statistics moved exactly as its three passes would; no unused critic gradients; one backward
# pass per critic step instead of three; a fused optimiser; and, measured per width, the fastest
# memory layout. For long trainings (the paper's 2,000 iterations per scale) the steps are also
# compiled with `torch.compile`: the gradient penalty's input gradient is written out as
# ordinary operations and the three critic calls run as one pass, so the compiler can fuse the
# many small operations of each step, double backward included. Compiling costs about a minute per
# scale, more than the short classroom training would save, so the classroom preset runs
# without it (`TrainConfig.compile_steps`). `benchmarks/bench_train.py` times all this against a
# reference-style iteration on the paper's settings, and `tests/singan/test_step.py` checks that both
# compute the same gradients.

# %%
rec_after = [s["rec_mse_finest"] for s in summaries]
rec_before = [s["rec_mse_finest_at_initialisation"] for s in summaries]
run.save_metrics({
    "models": len(summaries), "models_dir": str(models_dir), "fuse": fuse, "scale_plan_bucket_sizes": [len(b) for b in buckets],
    "rec_mse_finest_mean": float(np.mean(rec_after)), "rec_mse_finest_at_initialisation_mean": float(np.mean(rec_before)),
    "seconds_per_model_mean": float(np.mean([s["seconds_total"] for s in summaries])),
    "iteration_breakdown_seconds": phases, "per_model": summaries, "kit_vs_plain_iteration": agreement,
}, config=dataclasses.asdict(cfg))

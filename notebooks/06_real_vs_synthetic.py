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
# # 06 · Real vs synthetic: can a segmentation model learn from SinGAN-Seg data alone?
#
# The paper's first segmentation experiment (Table 2, Fig 9) asks whether synthetic polyps, **with
# their generated masks**, can stand in for the real data set — for instance when hospitals may
# not share real images. We train the same segmentation network, UNet++, once on real images and
# once only on synthetic ones, and measure both on real images neither has seen.
#
# How it is set up (as in the paper):
# - **3-fold cross-validation.** The real images are split into 3 folds. Each fold in turn is the
#   validation set; training data comes from the other two. The table reports the average of the
#   three validation scores.
# - **REAL** trains on the real images of the two training folds. **FAKE-N** trains only on the
#   first N synthetic samples of each of those images, **without style transfer** or after style
#   transfer with content:style weights **1:1** or **1:1000** (notebook 04).
# - **No leakage.** A synthetic sample carries the look of the one real image its model learned
#   from. If that image were in the validation fold, the model would be tested on something it has
#   effectively seen. So FAKE-N uses only samples of the training folds' models; every training list
#   is checked for this (by the manifest's `source_image`, and by file content) before it is used.
#
# What to look at: how close FAKE-N comes to REAL (the paper: IoU 0.76–0.80 vs 0.83), whether
# style transfer narrows the gap (the paper: yes, 1:1000 best), and whether more samples per image
# help. At the end: how far this run is from the paper's, and why.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - train UNet++ on real, synthetic and mixed sets with k-fold cross-validation (paper Table 2);
# - compute IoU/Dice/precision/recall per fold and compare training sets fairly;
# - explain data leakage: why a generator may not have seen the validation images.

# %% tags=["parameters"]
preset: str = "classroom"  # preset name (set by the runner)
run_dir: str = "../runs/classroom"  # results; synthetic sets are read from <run_dir>/02_generation/
seed: int = 0  # seed of the folds, the network initialisation and the data order
interactive: bool = True  # browse validation predictions with a slider at the end (the runner sets False: papermill runs show none)
device: str = "auto"  # auto | cpu | cuda | mps
data_dir: str = ""  # folder with images/ and masks/; empty: the bundled sample in data/sample
seg_encoder: str = "tu-mobilenetv3_small_100"  # UNet++ encoder (paper: se_resnext50_32x4d)
seg_encoder_weights: str = "auto"  # imagenet | auto (imagenet if found, else random init) | none (paper: imagenet)
seg_decoder_channels: list = [64, 32, 16, 16, 8]  # UNet++ decoder widths (paper: smp's 256, 128, 64, 32, 16)
seg_image_size: int = 128  # images resized to this square size (paper: 128)
seg_epochs: int = 30  # training epochs per run (paper: 300)
seg_lr: float = 0.001  # learning rate until seg_lr_drop_epoch (paper: 1e-4)
seg_lr_drop_epoch: int = 20  # epoch at which the rate drops (paper: 50)
seg_lr_after_drop: float = 0.0001  # learning rate after the drop (paper: 1e-5)
seg_batch_size: int = 8  # images per step (the paper does not say)
seg_augment: bool = True  # Albumentations on the training images (paper: yes)
seg_channels_last: bool = True  # NHWC memory layout (faster on CPU)
seg_folds: int = 3  # cross-validation folds (paper: 3)
seg_fake_ns: list = [1, 2]  # FAKE-N: synthetic samples per training image (paper: 1 to 5; at most st_samples)
seg_st: list = ["none", "1_1", "1_1000"]  # synthetic sets: none (no style transfer) or a content:style ratio

# %%
from IPython.display import display

from singanseg_lib import data, report, viz
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.segmentation import experiments, pairs, results, unetpp

run = start_notebook("06_real_vs_synthetic", run_dir=run_dir, seed=seed, device=device)
config = unetpp.config_from_params(run.params)
real = pairs.list_real_pairs(data_dir)
sets = pairs.load_sets(run_dir, seg_st)
print(config)

# %% [markdown]
# ## The data
#
# The real images come from the data folder; the synthetic sets are the ones notebook 02 exported
# (and notebook 04 style-transferred). Each synthetic sample names, in its set's `manifest.csv`,
# the real image whose model generated it. Only real images that have a model in **every** set
# (with at least max(FAKE-N) samples) take part in training, so REAL and every FAKE row learn from
# the same source images. (In the paper all 1,000 images have a model; a classroom run trains only
# a few.) Validation uses every image of the held-out fold, with or without a model.

# %%
modelled = pairs.modelled_ids(sets, min_samples=max(seg_fake_ns))
split = experiments.series_folds(run_dir, [p.source for p in real], k=seg_folds, seed=seed)
data.save_folds(split, run.path("folds.json"))
folds = split.folds
run_folds = experiments.trainable_folds(folds, modelled)
print(f"split: {split.source}; validation folds run: {[f + 1 for f in run_folds]}")
results.fold_summary(folds, modelled)

# %% [markdown]
# One training image of fold 1's training set and its synthetic samples in each set: the
# training data of REAL and of FAKE-N come from the same real images.

# %%
example = next(p for p in real if p.source in modelled)
rows = [[p for p in [example] + [s for s in set_pairs if s.source == example.source][:max(seg_fake_ns)]]
        for set_pairs in sets.values()]
shown = [[viz.overlay_mask(*pairs.read_pair(p, 256)) for p in row] for row in rows]
fig = viz.image_grid(shown, row_labels=[f"set: {st}" for st in sets], suptitle=f"{example.source}: real, then its samples")
run.figure(fig, "training_examples")

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# Will a UNet++ trained on **synthetic images only** (FAKE-1: one sample per real image, no style
# transfer) reach the IoU of one trained on the real images? How far behind do you expect it, in
# IoU points, and which of the synthetic rows will come closest?
#
# ### BEGIN SOLUTION
# In the paper (Table 2) the real row reaches IoU 0.827 and FAKE-1 without style transfer 0.762:
# synthetic-only data gets within about 6 points, and style transfer (1:1000) and more samples per
# image (FAKE-3) close the gap to about 3 points (0.792). It never overtakes the real data: the
# synthetic images are variations of the same real images, with masks that follow the generated
# polyp only approximately. Under the classroom preset (48-px generators, a random encoder, few
# epochs) the gap is usually larger and the ordering of the synthetic rows noisy; students often
# expect synthetic data to win because "there is more of it".
# ### END SOLUTION

# %% [markdown]
# ## Training
#
# Every run trains a UNet++ from the same initialisation seed and keeps the epoch with the best
# validation IoU. Runs are cached under `runs/<key>/` by a hash of their settings and data: a
# rerun of this notebook skips the finished ones, and an interrupted run continues from its last
# saved epoch. Before any training, each training list is checked for leakage.

# %%
specs = experiments.plan_real_vs_fake(real, folds, sets, fake_ns=seg_fake_ns, config=config, seed=seed,
                                      modelled=modelled, only_folds=run_folds)
print(f"{len(specs)} trainings: {len(run_folds)} folds x (REAL + {len(seg_fake_ns)} FAKE-N x {len(sets)} sets); "
      f"training sizes {sorted({len(s.train) for s in specs})} images, validation {sorted({len(s.val) for s in specs})}")
outcomes = experiments.run_experiment(specs, run.path("runs"), device=run.device)

# %% [markdown]
# ## Table 2: ours beside the paper's
#
# Metrics are for the polyp class, computed over all pixels of the validation fold at once
# (micro average; the paper does not say which average it used), then averaged over the folds.

# %%
table = results.summarise(outcomes)
comparison = report.compare("table2_real_vs_fake", {"rows": table})
report.to_frame(comparison)

# %%
# %% [markdown]
# ### Exercise 2 · F-score from IoU
#
# Both columns come from the same pixel counts of a validation fold: IoU = TP/(TP+FP+FN) and
# F = 2TP/(2TP+FP+FN). Show that F = 2·IoU/(1 + IoU): compute it from the IoU of every run in
# `outcomes` (`r["metrics"]["iou"]`) into the list `f_from_iou`, and compare it with
# `r["metrics"]["f_score"]`. Then explain why the table's *mean* columns do not satisfy the
# formula exactly.

# %% tags=["exercise"]
### BEGIN SOLUTION
f_from_iou = [2 * r["metrics"]["iou"] / (1 + r["metrics"]["iou"]) for r in outcomes]
### END SOLUTION
print("F from IoU:", [round(f, 4) for f in f_from_iou[:6]])
print("F measured:", [round(r["metrics"]["f_score"], 4) for r in outcomes[:6]])

# %% tags=["check"]
assert len(f_from_iou) == len(outcomes), "one value per run (every row, every fold)"
assert all(abs(f - r["metrics"]["f_score"]) < 1e-5 for f, r in zip(f_from_iou, outcomes)), \
    "F = 2·IoU/(1+IoU) holds exactly per run: check the formula"

# %% [markdown]
# ### BEGIN SOLUTION
# Per run the identity is exact, because both metrics are ratios of the same summed counts (smp's
# micro average). The table averages each metric over the folds, and the mean of 2x/(1+x) is not
# 2·mean(x)/(1 + mean(x)) for a concave function (Jensen's inequality): the mean F lies slightly
# below the formula applied to the mean IoU. Papers that report "Dice" and "IoU" of one model that
# break the identity by much have averaged per image, not per pixel.
# ### END SOLUTION

# %%
paper_rows = report.paper_results()["table2_real_vs_fake"]["rows"]
fig = viz.plot_real_vs_fake_iou(table, paper_rows, subtitle=f"{config.encoder}, {config.epochs} epochs")
run.figure(fig, "fig9_real_vs_fake_iou")

# %% [markdown]
# How training went in the first fold run: the validation IoU per epoch (★ marks the epoch kept) and the
# training loss. A curve that still rises at the end says more epochs would help; one that peaks
# early and falls says the model starts to memorise its few training images.

# %%
run.figure(viz.plot_training_curves([r for r in outcomes if r["fold"] == run_folds[0]]), "training_curves")

# %% [markdown]
# What the models see: validation images of the first fold run, with the true mask and the predictions of the
# REAL model and of the largest FAKE-N with the last style-transfer setting.

# %%
fake_row = experiments.row_name(max(seg_fake_ns), list(sets)[-1])
images, masks, predictions = results.predict_rows(specs, run.path("runs"), ["real", fake_row], fold=run_folds[0],
                                                     n=4, device=run.device)
run.figure(viz.plot_predictions(images, masks, predictions), "predictions")

# %%
if interactive:
    display(viz.prediction_explorer(images, masks, predictions))

# %% [markdown]
# ## How far is this run from the paper's?
#
# The paper trained 48 UNet++ models (3 folds × 16 rows) with an ImageNet-pretrained
# `se_resnext50_32x4d` encoder for 300 epochs each, on 667 real images per fold or 667–3,335
# synthetic ones, made by 1,000 SinGAN-Seg models trained for 2,000 iterations per scale. A
# classroom run on a laptop CPU keeps the design — folds, leakage rules, rows, metrics — but
# shrinks everything else: a few real images with a model (a handful of training images per fold),
# a small encoder from random initialisation (unless ImageNet weights were found), 30 epochs, and
# SinGAN-Seg models trained briefly. Expect much lower scores than the paper's 0.76–0.83 IoU and
# noisy differences between rows; the `paper` preset on a GPU is the run to compare line by line.
# What should already hold here: no row is trained on anything from its validation fold, and
# the table shows every row beside the paper's.

# %%
data = results.data_description(data_dir, real, modelled, [pairs.find_synthetic_set(run_dir, st) for st in sets])
entry = results.table_entry(table, outcomes, config, data=data, cv_folds=len(run_folds))
if len(run_folds) < len(folds):
    run.note(f"only validation folds {[f + 1 for f in run_folds]} of {len(folds)} had models to train on")
if "random init" in entry["weights"]:
    run.note("UNet++ encoder from random init: not comparable with the paper (ImageNet weights)")
run.save_metrics({"table2_real_vs_fake": entry, "modelled": modelled, "validation_folds_run": run_folds})

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
# # 05b · What does a model give away about its patient? Shareable models and a memorisation audit
#
# SinGAN-Seg's promise is synthetic data that can be shared where the real data cannot. Two
# things can be shared, and each can leak the training image:
#
# * **The model itself.** A model folder as training writes it stores the real image and mask at
#   every scale, the fixed reconstruction noise `z_opt` (which regenerates the image exactly) and
#   the paths of the user's files. The reference code does the same (`reals.pth`), so sharing the
#   authors' 1,000 models shares 1,000 patient images. `singanseg export --shareable` writes a copy
#   with the generators only; we check that it gives the same samples from start scale 0.
# * **The samples.** Even a clean model may have memorised its single training image. We play the
#   attacker: given one synthetic image and the whole real data set, which patient was it made
#   from? We rank every real image by its distance to the sample (in pixels, and in the FID
#   Inception features notebook 05 uses) and count how often the true source comes first
#   (**top-1**) or among the first five (**top-5**); chance is 1 or 5 over the number of real
#   images. The **own-vs-other AUC** is the probability that a sample is nearer its source than
#   another real image (0.5: no trace). The **nearest-neighbour ratio** (authenticity, Alaa et al.
#   2022) divides the distance to the source by the distance from the source to its nearest other
#   real image: below 1 the sample sits inside the source's own neighbourhood, near 0 it is a copy.
#   For the masks, the **IoU with the training mask** says whether the expert's annotation is
#   repeated.
#
# We do this at every start scale (0: all scales random, the paper's setting; the last one is the
# reconstruction, a copy by construction) and after style transfer from the training image (as
# notebook 04 does), because both pull samples towards their source.
#
# What to look at: how far top-1 rises above chance as the start scale grows, whether style
# transfer raises it, and what the recommended start scale costs in diversity.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - say what a SinGAN-Seg model folder gives away about its training image (real pyramid, fixed noise, paths);
# - export models that hold only what generation from start scale 0 needs, and check they generate the same samples;
# - run a linkage attack (rank the real images by distance to a sample) and read top-1/top-5 rates,
#   AUC and nearest-neighbour ratios against chance;
# - choose a start scale to share samples at, and say what it costs in diversity.

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # models are read from <run_dir>/01_training/models
seed: int = 0  # base seed of the audit's samples (sample k of a model: generate.sample_seed(seed, k))
interactive: bool = True  # widgets (none in this notebook); the runner sets False
device: str = "auto"  # auto | cpu | cuda | mps
data_dir: str = ""  # the real data set the attacker holds (empty: the bundled sample, as notebook 01)
audit_samples: int = 3  # samples per model at each start scale (paper-size audits: 10)
audit_size: int = 32  # side of the pixel features and of the mask comparison (px)
audit_inception: bool = True  # also link in FID Inception pool3 features
audit_inception_size: int = 75  # side images are resized to for Inception (FID: 299; 75, its smallest, loses nothing of 48 px models)
audit_style: bool = True  # also audit every sample after style transfer from its training image
audit_st_ratio: str = "1:1000"  # content:style of the audit's style transfer (the stronger of notebook 04's)
audit_st_steps: int = 5  # Adam steps of the audit's style transfer (notebook 04: st_steps; paper: 1000)
audit_st_size: int = 32  # side the audit styles at (0: the model's finest size)
audit_published: bool = True  # also audit the imported reference-format generator below
reference_dir: str = "../tests/fixtures/reference-singan-seg-ms128"  # reference-format model to import and audit
allow_random_weights: bool = True  # without Inception/VGG19 weights, use random ones (labelled as such)

# %%
from pathlib import Path

import torch

from singanseg_lib import data, metrics, privacy, viz
from singanseg_lib.kit import paths
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.published import importer
from singanseg_lib.sampling import generate, synthetic
from singanseg_lib.singan import checkpoint, export
from singanseg_lib.singan.models import ShareableModelError

run = start_notebook("05b_privacy", run_dir=run_dir, seed=seed, device=device)
# a relative folder is the kit's, beside its notebooks/, wherever this copy of the notebook was opened
reference_dir = str(Path(reference_dir) if Path(reference_dir).is_absolute() else paths.notebook_dir() / reference_dir)
model_dirs = synthetic.training_models(run_dir)
models = {d.name: checkpoint.load_model(d, device=run.device) for d in model_dirs}
pairs = data.load_dataset(data.resolve_data_dir(data_dir)).pairs
print(f"{len(models)} model(s) from notebook 01; the attacker holds {len(pairs)} real images")

# %% [markdown]
# ## 1. A model that can be shared
#
# The export keeps the generators, their noise amplitudes, the sizes and the config; it drops the
# real pyramid, `z_opt`, the discriminators and every path (only the image id stays). Generation
# from start scale 0 never touches what was dropped, so the same seeds give the same samples, bit
# for bit. A start scale above 0 replays the reconstruction at the coarse scales, which needs
# `z_opt`: the shareable model refuses, and says why.

# %%
shared_dirs = export.export_shareable_folder(model_dirs[0].parent, run.path("shareable"), overwrite=True)
full_mb = sum(export.folder_bytes(d) for d in model_dirs) / 1e6
shared_mb = sum(export.folder_bytes(d) for d in shared_dirs) / 1e6
shared = {d.name: checkpoint.load_model(d, device=run.device) for d in shared_dirs}
same = all(torch.equal(generate.generate_samples(models[n].pyramid, 2, seed=seed).images,
                       generate.generate_samples(shared[n].pyramid, 2, seed=seed).images) for n in models)
print(f"models {full_mb:.2f} MB -> shareable {shared_mb:.2f} MB; identical samples at start scale 0: {same}")
try:
    generate.generate_samples(next(iter(shared.values())).pyramid, 1, start_scale=1)
except ShareableModelError as e:
    print("start scale 1:", e)

# %% [markdown]
# ## 2. The attacker's features
#
# Pixels first: every image resized to `audit_size` px square, as a plain vector. Then the FID
# Inception's pool3 features, which see layout and texture rather than exact pixels (FID feeds it
# 299 px images; `audit_inception_size` trades that for speed). Without downloaded weights the
# Inception has seeded random weights: still a fixed embedding, but not the one FID means; the
# label says which was used.

# %%
net = None
if audit_inception:
    net = metrics.load_inception("fid", allow_random=allow_random_weights, device=run.device)
    if net.weights.random:
        run.note("privacy audit: Inception features with random weights (no pretrained weights found)")
reals = privacy.load_reals([(p.id, p.image, p.mask) for p in pairs], size=audit_size, net=net,
                           inception_size=audit_inception_size)
print("Inception:", reals.weights)
vgg = None
if audit_style:
    from singanseg_lib.style.transfer import load_vgg19

    vgg = load_vgg19(allow_random=allow_random_weights, device=run.device)
    print("style transfer:", vgg.label)

# %% [markdown]
# ## 3. The audit of this run's models
#
# `audit_samples` samples per model at every start scale, each also styled from its training
# image; the samples of all models are pooled per start scale.

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# An attacker holds the real images and ranks them by pixel distance to one synthetic sample.
# How often will the sample's own training image come first at **start scale 0**, the most random
# setting? And at the last start scale?
#
# ### BEGIN SOLUTION
# Far more often than chance (1 in the number of real images): a SinGAN-Seg model learns one
# image, and even its free samples keep that image's colours and much of its layout. On the
# classroom models a large share of start-scale-0 samples is linked top-1 (chance about 3 %), and
# at the last start scale, the reconstruction, every sample is: it is a copy. Style transfer
# pulls each sample towards its own real image, so it makes linkage easier, not harder. Most
# students expect free samples to be anonymous because they "look new".
# ### END SOLUTION

# %%
records = []
for name, model in models.items():
    source = reals.index(model.meta["source"].get("image_id") or name)
    records += privacy.audit_model(model.pyramid, name, source, reals, samples=audit_samples, seed=seed,
                                   net=net, vgg=vgg, st_ratio=audit_st_ratio, st_steps=audit_st_steps,
                                   st_size=audit_st_size)
rows = privacy.summarise(records, reals)
for r in rows:
    px = r["pixels"]
    print(f"start {r['start_scale']} {'ST   ' if r['styled'] else 'no ST'}: top-1 {px['top1']:.0%} top-5 {px['top5']:.0%} "
          f"(chance {px['chance_top1']:.0%}/{px['chance_top5']:.0%}) AUC {px['auc']:.2f} ratio {px['ratio_median']:.2f}"
          + (f" | Inception top-1 {r['inception']['top1']:.0%}" if "inception" in r else "")
          + f" | mask IoU {r['mask_iou_median']:.2f} copies {r['mask_copy']:.0%} | diversity {r['diversity']:.3f}"
          + ("  FLAGGED" if r["flagged"] else ""))
note = "Inception: random weights" if net is not None and net.weights.random else ""
run.figure(viz.plot_privacy_audit(rows, title=f"{len(models)} models of this run, {audit_samples} samples each",
                                  note=note), "privacy_audit")

# %% [markdown]
# ### Exercise 2 · What chance is
#
# With M real images to rank, a guess puts the source first with probability 1/M and among the
# first five with probability min(5, M)/M. Compute both for the images the attacker holds
# (`chance_top1`, `chance_top5`) and compare them with the audit's top-1 and top-5 at start scale 0.

# %% tags=["exercise"]
### BEGIN SOLUTION
m = len(reals.ids)
chance_top1, chance_top5 = 1 / m, min(5, m) / m
### END SOLUTION
print(f"chance top-1 {chance_top1:.1%}, top-5 {chance_top5:.1%}; start scale 0: top-1 {rows[0]['pixels']['top1']:.0%}, "
      f"top-5 {rows[0]['pixels']['top5']:.0%}")

# %% tags=["check"]
assert abs(chance_top1 - rows[0]["pixels"]["chance_top1"]) < 1e-9, "chance top-1 is one over the number of real images"
assert abs(chance_top5 - rows[0]["pixels"]["chance_top5"]) < 1e-9, "chance top-5 is five over the number of real images"

# %% [markdown]
# Read the figure left to right: linkage against chance (grey), the AUC against 0.5, the ratio
# against 1, the masks, and the diversity the start scale buys. The last start scale is the
# reconstruction: for a well-trained model it is a copy and must be linked every time, the check
# that the audit can see one. A model trained for a few iterations (the smoke preset) reconstructs
# its image poorly, and then nothing links; the imported model below shows the other case.
#
# ## 4. An imported published generator
#
# The same audit on the reference-format model of notebook 03, imported through the safe reader.
# Its training image joins the attacker's real set.

# %%
published_rows = []
if audit_published:
    ref_dir = Path(reference_dir)
    imported = importer.import_reference(ref_dir, run.path("published", "model"), overwrite=True,
                                         image_path=ref_dir / "polyp_with_4_channels.png")
    export.export_shareable(imported, run.path("published", "shareable"), overwrite=True)
    pub = checkpoint.load_model(imported, device=run.device)
    pub_id = "published:" + pub.meta["source"]["image_id"]
    pub_image, pub_mask = privacy.load_pair(ref_dir / "polyp_with_4_channels.png")  # the mask is its alpha channel
    pub_reals = privacy.add_reals(reals, [pub_id], [pub_image], [pub_mask], net=net)
    pub_records = privacy.audit_model(pub.pyramid, pub_id, pub_reals.index(pub_id), pub_reals,
                                      samples=audit_samples, seed=seed, net=net)
    published_rows = privacy.summarise(pub_records, pub_reals)
    for r in published_rows:
        print(f"start {r['start_scale']}: top-1 {r['pixels']['top1']:.0%} ratio {r['pixels']['ratio_median']:.2f} "
              f"mask IoU {r['mask_iou_median']:.2f}" + ("  FLAGGED" if r["flagged"] else ""))
    run.figure(viz.plot_privacy_audit(published_rows, title="imported reference-format generator", note=note),
               "privacy_audit_published")

# %% [markdown]
# ## 5. What to share
#
# The recommendation reads the table above: the lowest start scale nobody flags, how far up one
# may go before the samples give their source away, and what that costs in diversity. With a
# handful of samples (smoke, classroom) the rates are coarse: a rate of 1 in 3 samples is 33 %.

# %%
recommendation = privacy.recommend(rows)
print(recommendation)
run.save_metrics({
    "audit": rows,
    "published_audit": published_rows,
    "recommendation": recommendation,
    "real_images": len(reals.ids),
    "features": {"pixels": f"{audit_size}x{audit_size} px, [0, 1]", "inception": reals.weights},
    "published_model": pub.meta["source"].get("image_id") if audit_published else None,
    "style": {"ratio": audit_st_ratio, "steps": audit_st_steps, "size": audit_st_size,
              "weights": vgg.label if vgg is not None else None},
    "shareable": {"models_mb": full_mb, "shareable_mb": shared_mb, "identical_samples_start_scale_0": same},
    **({"note": note} if note else {}),
})

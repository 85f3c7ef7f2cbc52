"""Import of checkpoints written by the reference SinGAN-Seg code (and its 1,000 published models).

A reference model is a folder of four torch files (see ``tests/fixtures/reference-singan-seg-ms128``)::

    Gs.pth        list of whole generator modules, one per scale (SinGAN.models.GeneratorConcatSkip2CleanAdd)
    Zs.pth        reconstruction noise per scale, zero-padded by 5 px (finer scales: bool zeros)
    NoiseAmp.pth  noise amplitude per scale (scale 0: the int 1; then 0-d tensors)
    reals.pth     the real image pyramid, 1 x 4 x h x w in [-1, 1], coarsest first

:func:`read_reference` reads them through :mod:`singanseg_lib.published.unpickler` (no pickled code runs),
checks that every generator is the reference design the kit's
:class:`~singanseg_lib.singan.models.ScaleGenerator` computes (3x3 unpadded convs, BatchNorm eval,
LeakyReLU 0.2, tanh, residual), takes each scale's layer widths and kernel size from its tensors,
and works out the pyramid plan from the files themselves (:func:`infer_plan`).
:func:`import_reference` writes the kit's checkpoint format: z_opt unpadded and float, noise
amplitudes as floats, ``source`` naming the input files with their sha256. Imported models have
no discriminators: they generate, they cannot resume training.
"""
from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from singanseg_lib.kit.files import OutputExistsError, sha256_file
from singanseg_lib.published.unpickler import PickledObject, load_pth
from singanseg_lib.singan.checkpoint import META_FILE, load_model, new_meta, read_meta, save_scale
from singanseg_lib.singan.models import PAD, ScaleGenerator, SinGANPyramid
from singanseg_lib.singan.pyramid import ScalePlan, plan_scales, resized_size, scale_width

REFERENCE_FILES = ("Gs.pth", "Zs.pth", "NoiseAmp.pth", "reals.pth")
GENERATOR_CLASS = "SinGAN.models.GeneratorConcatSkip2CleanAdd"
SOURCE_KIND = "reference-singan-seg"


class ReferenceFormatError(ValueError):
    """A reference checkpoint that does not have the structure the kit can reproduce."""


@dataclass
class ReferenceCheckpoint:
    """A reference model folder, read and checked; tensors on the CPU, in the kit's names.

    ``z_opts`` are unpadded float 1 x C x h x w; ``zs_padded`` the stored ones (for
    :mod:`singanseg_lib.published.replay`). ``saved_on`` lists the devices the files were saved from.
    """

    folder: Path
    states: list[dict[str, torch.Tensor]]
    widths: list[tuple[int, ...]]
    kernel_sizes: list[int]
    channels: int
    z_opts: list[torch.Tensor]
    zs_padded: list[torch.Tensor]
    noise_amps: list[float]
    reals: list[torch.Tensor]
    saved_on: list[str]
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def sizes(self) -> list[tuple[int, int]]:
        return [tuple(r.shape[-2:]) for r in self.reals]


def _attr(obj: PickledObject, name: str, where: str):
    if name not in obj.attrs:
        raise ReferenceFormatError(f"{where}: {obj.qualname} has no attribute {name!r}")
    return obj.attrs[name]


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ReferenceFormatError(f"{where}: {what}; the kit's generator cannot reproduce this network")


def _children(obj: Any, where: str, qualname_end: str) -> dict[str, Any]:
    _expect(isinstance(obj, PickledObject) and obj.qualname.endswith(qualname_end), where,
            f"expected a {qualname_end}, found {getattr(obj, 'qualname', type(obj).__name__)}")
    return dict(_attr(obj, "_modules", where))


def _conv(obj: Any, where: str, state: dict, prefix: str) -> None:
    _children(obj, where, "Conv2d")
    a = obj.attrs
    _expect(tuple(a.get("stride", ())) == (1, 1) and tuple(a.get("padding", ())) == (0, 0)
            and tuple(a.get("dilation", (1, 1))) == (1, 1) and a.get("groups", 1) == 1, where,
            f"conv with stride {a.get('stride')}, padding {a.get('padding')}, dilation {a.get('dilation')}, "
            f"groups {a.get('groups')} (expected 1, 0, 1, 1)")
    params = _attr(obj, "_parameters", where)
    _expect(isinstance(params.get("weight"), torch.Tensor) and isinstance(params.get("bias"), torch.Tensor),
            where, "conv without weight or bias")
    w = params["weight"]
    _expect(w.ndim == 4 and w.shape[2] == w.shape[3] and w.shape[2] % 2 == 1, where,
            f"kernel of shape {tuple(w.shape)}")
    state[f"{prefix}.weight"], state[f"{prefix}.bias"] = w, params["bias"]


def _conv_block(obj: Any, where: str, state: dict, prefix: str) -> None:
    mods = _children(obj, where, "ConvBlock")
    _expect(list(mods) == ["conv", "norm", "LeakyRelu"], where, f"ConvBlock layers {list(mods)}")
    _conv(mods["conv"], f"{where}.conv", state, f"{prefix}.conv")
    norm = mods["norm"]
    _children(norm, f"{where}.norm", "BatchNorm2d")
    _expect(math.isclose(norm.attrs.get("eps", 1e-5), 1e-5) and norm.attrs.get("affine", True)
            and norm.attrs.get("track_running_stats", True), f"{where}.norm",
            f"BatchNorm with eps {norm.attrs.get('eps')}, affine {norm.attrs.get('affine')}")
    tensors = {**_attr(norm, "_parameters", where), **_attr(norm, "_buffers", where)}
    for key in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        _expect(isinstance(tensors.get(key), torch.Tensor), f"{where}.norm", f"no {key}")
        state[f"{prefix}.norm.{key}"] = tensors[key]
    relu = mods["LeakyRelu"]
    _children(relu, f"{where}.LeakyRelu", "LeakyReLU")
    _expect(math.isclose(relu.attrs.get("negative_slope", 0.01), 0.2), f"{where}.LeakyRelu",
            f"LeakyReLU slope {relu.attrs.get('negative_slope')} (expected 0.2)")


def generator_state(obj: Any, where: str) -> tuple[dict[str, torch.Tensor], tuple[int, ...], int]:
    """The state dict (kit names = reference names), layer widths and kernel size of one generator.

    ``obj`` is the stand-in of a pickled ``GeneratorConcatSkip2CleanAdd``; any deviation from the
    reference design raises :class:`ReferenceFormatError` naming ``where`` and the layer.
    """
    mods = _children(obj, where, GENERATOR_CLASS)
    _expect(_attr(obj, "training", where) is False, where,
            "saved in training mode (BatchNorm would use batch statistics); the reference saves eval-mode generators")
    _expect(list(mods) == ["head", "body", "tail"], where, f"top-level layers {list(mods)}")
    state: dict[str, torch.Tensor] = {}
    _conv_block(mods["head"], f"{where}.head", state, "head")
    blocks = _children(mods["body"], f"{where}.body", "Sequential")
    _expect(list(blocks) == [f"block{i}" for i in range(1, len(blocks) + 1)], f"{where}.body", f"blocks {list(blocks)}")
    for name, block in blocks.items():
        _conv_block(block, f"{where}.body.{name}", state, f"body.{name}")
    tail = _children(mods["tail"], f"{where}.tail", "Sequential")
    _expect(list(tail) == ["0", "1"], f"{where}.tail", f"layers {list(tail)}")
    _conv(tail["0"], f"{where}.tail.0", state, "tail.0")
    _children(tail["1"], f"{where}.tail.1", "Tanh")
    convs = ["head.conv"] + [f"body.{n}.conv" for n in blocks] + ["tail.0"]
    kernel = state["head.conv.weight"].shape[-1]
    layers = len(convs)
    _expect(all(state[f"{c}.weight"].shape[-1] == kernel for c in convs), where, "kernel sizes differ between layers")
    _expect((kernel - 1) * layers // 2 == PAD and (kernel - 1) * layers % 2 == 0, where,
            f"{layers} layers of {kernel}x{kernel} kernels need {(kernel - 1) * layers / 2:g} px of padding; "
            f"the kit's pyramid pads by {PAD} px (5 layers of 3x3)")
    widths = tuple(int(state[f"{c}.weight"].shape[0]) for c in convs[:-1])
    for prev, cur in zip(convs, convs[1:]):
        takes, gives = state[f"{cur}.weight"].shape[1], state[f"{prev}.weight"].shape[0]
        _expect(takes == gives, where, f"{cur} takes {takes} channels, {prev} gives {gives}")
    _expect(state["tail.0.weight"].shape[0] == state["head.conv.weight"].shape[1], where,
            "the tail does not map back to the input channels")
    return {k: v.detach().clone().contiguous() for k, v in state.items()}, widths, kernel


def _as_float(v: Any, where: str) -> float:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    _expect(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0, where,
            f"noise amplitude {v!r} is not a non-negative number")
    return float(v)


def _list(obj: Any, path: Path) -> list:
    if not isinstance(obj, list) or not obj:
        raise ReferenceFormatError(f"{path}: expected a non-empty list (one entry per scale), "
                                   f"found {type(obj).__name__}")
    return obj


def read_reference(folder: str | Path) -> ReferenceCheckpoint:
    """Read and check a reference model folder (``Gs.pth``, ``Zs.pth``, ``NoiseAmp.pth``, ``reals.pth``).

    Nothing pickled is executed (:func:`~singanseg_lib.published.unpickler.load_pth`); CUDA-saved tensors
    come back on the CPU. A folder that stopped mid-training (fewer generators than real scales)
    is read as such.
    """
    folder = Path(folder)
    missing = [n for n in REFERENCE_FILES if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}; a reference model folder holds "
                                f"{', '.join(REFERENCE_FILES)}")
    files, loaded, saved_on = {}, {}, set()
    for name in REFERENCE_FILES:
        path = folder / name
        files[name] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        loaded[name], where = load_pth(path)
        saved_on |= where
    gs = _list(loaded["Gs.pth"], folder / "Gs.pth")
    zs = _list(loaded["Zs.pth"], folder / "Zs.pth")
    amps = _list(loaded["NoiseAmp.pth"], folder / "NoiseAmp.pth")
    reals = _list(loaded["reals.pth"], folder / "reals.pth")
    if not (len(zs) == len(amps) == len(gs) <= len(reals)):
        raise ReferenceFormatError(f"{folder}: {len(gs)} generators, {len(zs)} noise maps, {len(amps)} amplitudes "
                                   f"and {len(reals)} real scales do not belong together")
    states, widths, kernels = [], [], []
    for i, g in enumerate(gs):
        s, w, k = generator_state(g, f"{folder / 'Gs.pth'}[{i}]")
        states.append(s), widths.append(w), kernels.append(k)
    channels = states[0]["head.conv.weight"].shape[1]
    if channels != 4:
        raise ReferenceFormatError(f"{folder / 'Gs.pth'}: generators take {channels} channels; SinGAN-Seg models "
                                   "take 4 (RGB + mask). A plain SinGAN checkpoint cannot be used by the kit")
    z_opts, real_list = [], []
    for i, r in enumerate(reals):
        where = f"{folder / 'reals.pth'}[{i}]"
        _expect(isinstance(r, torch.Tensor) and r.ndim == 4 and r.shape[:2] == (1, channels), where,
                f"expected a 1 x {channels} x h x w tensor, found {getattr(r, 'shape', type(r).__name__)}")
        real_list.append(r.detach().float().clone())
    for i, z in enumerate(zs):
        where = f"{folder / 'Zs.pth'}[{i}]"
        h, w = real_list[i].shape[-2:]
        _expect(isinstance(z, torch.Tensor) and tuple(z.shape) == (1, channels, h + 2 * PAD, w + 2 * PAD), where,
                f"expected noise of shape {(1, channels, h + 2 * PAD, w + 2 * PAD)} (the real scale padded by {PAD}), "
                f"found {tuple(getattr(z, 'shape', ()))}")
        z = z.detach().float().clone()
        inner = z[..., PAD:-PAD, PAD:-PAD].clone().contiguous()
        z[..., PAD:-PAD, PAD:-PAD] = 0
        _expect(not bool(z.any()), where, "noise is non-zero in its padding border")
        z_opts.append(inner)
    noise_amps = [_as_float(a, f"{folder / 'NoiseAmp.pth'}[{i}]") for i, a in enumerate(amps)]
    return ReferenceCheckpoint(folder, states, widths, kernels, channels, z_opts, [z.detach() for z in zs],
                               noise_amps, real_list, sorted(saved_on), files)


# The reference's defaults: preferred where two settings give identical sizes (a ceil artefact).
DEFAULT_MIN_SIZE, DEFAULT_MAX_SIZE = 25, 250


def _candidates(observed: int, default: int, given: int | None) -> list[int]:
    if given is not None:
        return [given]
    near = [observed, observed - 1, observed + 1]  # ceil may have rounded the observed side up by one
    return sorted(near, key=lambda v: (v != default, near.index(v)))


def infer_plan(sizes: list[tuple[int, int]], head_widths: list[int], *,
               original_size: tuple[int, int] | None = None, min_size: int | None = None,
               max_size: int | None = None) -> ScalePlan:
    """The pyramid plan of a reference model, from its real scales' sizes (coarsest first).

    The reference sets ``scale_factor = (min_size / short side of the finest) ** (1 / stop_scale)``
    and sizes every scale as ``ceil(finest * scale_factor ** (stop_scale - i))``, so ``min_size``
    is the coarsest short side (give or take the rounding of ``ceil``); the factor that reproduces
    every size is the one the reference upsampled with. With ``original_size`` the plan is
    recomputed by :func:`~singanseg_lib.singan.pyramid.plan_scales` (``max_size`` = the finest long side,
    give or take one) and must give the same sizes; without it, the finest scale is taken as the
    original (``scale1 = 1``). Where two settings give identical sizes the reference defaults
    (25, 250) win; ``min_size``/``max_size`` fix them instead.
    """
    sizes = [tuple(int(v) for v in s) for s in sizes]
    if len(sizes) < 2:
        raise ReferenceFormatError(f"{len(sizes)} scale(s): the reference always trains at least 2")
    stop, finest = len(sizes) - 1, sizes[-1]
    for min_size in _candidates(min(sizes[0]), DEFAULT_MIN_SIZE, min_size):
        factor = math.pow(min_size / min(finest), 1 / stop)
        if all(resized_size(finest, math.pow(factor, stop - i)) == s for i, s in enumerate(sizes)):
            break
    else:
        raise ReferenceFormatError(f"scale sizes {sizes} do not follow the reference pyramid (no scale factor "
                                   "reproduces them)")
    # Scales not trained yet (an interrupted run) get the reference's width rule.
    widths = tuple(int(w) for w in head_widths) + tuple(
        scale_width(i, nfc=int(head_widths[0])) for i in range(len(head_widths), len(sizes)))
    if original_size is None:
        return ScalePlan(finest, 1.0, factor, stop, tuple(sizes), widths)
    h, w = original_size
    observed = max(finest) if max(h, w) > max(finest) else max(h, w)
    tried = []
    for mx in _candidates(observed, DEFAULT_MAX_SIZE, max_size):
        try:
            plan = plan_scales(h, w, min_size=min_size, max_size=mx)
        except ValueError as e:
            tried.append(str(e))
            continue
        if list(plan.sizes) == sizes:
            return ScalePlan((h, w), plan.scale1, plan.scale_factor, plan.stop_scale, plan.sizes, widths)
        tried.append(f"max_size {mx}: {list(plan.sizes)}")
    raise ReferenceFormatError(f"the checkpoint's pyramid sizes are {sizes}, but an image of {h}x{w} px gives "
                               f"{'; '.join(tried)}: the original size is wrong or the model was trained "
                               "with other pyramid settings")


def to_pyramid(ref: ReferenceCheckpoint, plan: ScalePlan) -> SinGANPyramid:
    """The kit's pyramid module holding the imported generators (in memory, on the CPU)."""
    pyramid = SinGANPyramid(plan, channels=ref.channels)
    for state, widths, k, amp, z in zip(ref.states, ref.widths, ref.kernel_sizes, ref.noise_amps, ref.z_opts):
        g = ScaleGenerator(ref.channels, widths, k)
        g.load_state_dict(state)
        pyramid.add_scale(g, amp, z)
    return pyramid


def import_reference(folder: str | Path, out_dir: str | Path, *, image_id: str | None = None,
                     image_path: str | Path | None = None, mask_path: str | Path | None = None,
                     original_size: tuple[int, int] | None = None, weights: str | None = None,
                     overwrite: bool = False) -> Path:
    """Convert a reference model folder into a kit model folder (``model.json`` + safetensors).

    ``image_path``/``mask_path`` name the training image and mask where known (the original size
    is then read from the image unless given); ``weights`` says in ``source`` where the weights
    come from (default: the reference code, imported as stored). The model is written into a
    hidden folder beside ``out_dir`` and renamed when complete, so an interrupted import leaves
    nothing that looks like a model. An existing ``out_dir`` raises unless ``overwrite``.
    """
    folder, out_dir = Path(folder), Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        what = "a model" if (out_dir / META_FILE).exists() else "files"
        raise OutputExistsError(f"{out_dir} already holds {what}; pass overwrite=True (CLI: --overwrite) "
                                "to replace it")
    ref = read_reference(folder)
    if original_size is None and image_path is not None:
        from PIL import Image

        with Image.open(image_path) as im:
            original_size = (im.height, im.width)
    plan = infer_plan(ref.sizes, [w[0] for w in ref.widths], original_size=original_size)
    source = {"kind": SOURCE_KIND, "image_id": image_id or folder.name,
              "image_path": str(image_path) if image_path else None,
              "mask_path": str(mask_path) if mask_path else None,
              "reference_dir": str(folder.resolve()), "files": ref.files, "saved_on": ref.saved_on,
              "original_size_known": original_size is not None,
              "weights": weights or "trained by the reference SinGAN-Seg code, imported as stored"}
    config = {"imported_from_reference": True, "layer_widths": [list(w) for w in ref.widths],
              "kernel_size": ref.kernel_sizes[0]}
    meta = new_meta(plan, channels=ref.channels, seed=None, config=config, source=source)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.parent.glob(f".{out_dir.name}.partial-*"):  # left by a killed import
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out_dir.with_name(f".{out_dir.name}.partial-{os.getpid()}")
    tmp.mkdir()
    try:
        for i, (state, widths, k) in enumerate(zip(ref.states, ref.widths, ref.kernel_sizes)):
            g = ScaleGenerator(ref.channels, widths, k)
            g.load_state_dict(state)
            meta = save_scale(tmp, meta, i, g, noise_amp=ref.noise_amps[i], z_opt=ref.z_opts[i], real=ref.reals[i],
                              info={"imported_from": f"Gs.pth[{i}]"})
        load_model(tmp)  # read back through the kit's own loader before committing
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.replaced")
            shutil.rmtree(old, ignore_errors=True)
            out_dir.rename(old)
            tmp.rename(out_dir)
            shutil.rmtree(old)
        else:
            tmp.rename(out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def is_imported_from(model_dir: str | Path, folder: str | Path) -> bool:
    """Whether ``model_dir`` is a complete import of exactly these reference files (by sha256)."""
    try:
        meta = read_meta(model_dir)
    except (FileNotFoundError, ValueError):
        return False
    recorded = meta.get("source", {}).get("files", {})
    return meta.get("source", {}).get("kind") == SOURCE_KIND and all(
        recorded.get(n, {}).get("sha256") == sha256_file(Path(folder) / n) for n in REFERENCE_FILES)


def find_reference_folders(root: str | Path) -> list[Path]:
    """Every folder under ``root`` (itself included) that holds a ``Gs.pth``, sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    return sorted(p.parent for p in root.rglob("Gs.pth"))

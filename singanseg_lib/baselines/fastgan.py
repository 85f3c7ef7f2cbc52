"""FastGAN (Liu et al., "Towards Faster and Stabilized GAN Training for High-fidelity Few-shot Image
Synthesis", ICLR 2021) with a 4th output channel, the mask: a baseline of the paper's Tables 4 and 5.

Written here from the paper (the authors' code is GPL-3.0; nothing is taken from it). FastGAN is
made to learn from a few hundred images on one GPU in hours; its two ideas:

- **Skip-layer excitation (SLE)** in G: a low-resolution feature map (8, 16, 32 px) is pooled to
  4x4, squeezed to one value per channel (a 4x4 convolution, LeakyReLU, a 1x1 convolution, a
  sigmoid) and multiplies, channel by channel, the feature map 16 times larger (128, 256, 512 px).
  The gradient gets a short path to the early layers, and the coarse layers gate the fine ones'
  channels, which the paper likens to a style; G stays small: one convolution per resolution.
- **A self-supervised D**: besides judging real and fake, D is an encoder whose features on real
  images small decoders must turn back into the image: its 8x8 features into the whole real image,
  a random crop of its 16x16 features into the matching part of the real image. D must then keep
  a description of the whole image rather than a few cues that tell the reals from G's samples,
  which is what a D over-fits on when the data are few.

Up-sampling blocks are nearest-neighbour x2, a 3x3 convolution, batch norm and a gated linear unit
(GLU, half the channels gating the other half); noise is injected after each up-sampling
convolution; D's down-sampling blocks are residual (a strided 4x4 then a 3x3 convolution, beside
average pooling and a 1x1 convolution) and its verdict is a 5x5 map of logits from the 8x8 features.
Spectral normalisation on every convolution.

The paper's hyper-parameters: z of 256 normal values, 256 and 1024 px, batch 8, Adam with learning
rate 2e-4 and betas (0.5, 0.999) for G and D, the hinge loss, DiffAugment's
"color,translation,cutout" (:mod:`augment`) on everything D sees, and an LPIPS perceptual loss
between the decoders' images and the real ones. Here any power of two from 16 to 1024 px works, so
small runs fit a CPU; the kit's deviations are listed in :attr:`FastGAN.deviations`.
"""
from __future__ import annotations

import copy
import hashlib
import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from singanseg_lib.baselines.augment import DEFAULT_POLICY, check_policy, diff_augment
from singanseg_lib.baselines.base import Baseline

__all__ = ["FastGAN", "Generator", "Discriminator"]

RECON_SIZE = 128  # the side of the paper's decoders' images (smaller images are reconstructed whole)
RECON_LOSSES = ("l1",)


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0, bias: bool = False) -> nn.Module:
    return spectral_norm(nn.Conv2d(c_in, c_out, k, stride, padding, bias=bias))


def g_width(res: int, ngf: int) -> int:
    """G's channels at ``res`` px: wide where the image is small, halving with each doubling from
    32 px up (the paper keeps its high-resolution layers thin, which is what makes it fast)."""
    return max(4, min(8 * ngf, ngf * 128 // res))


def d_width(res: int, ndf: int) -> int:
    """D's channels at ``res`` px, the mirror of :func:`g_width`."""
    return max(4, min(8 * ndf, ndf * 128 // res))


def _hash_seed(code: torch.Tensor) -> int:
    """A 64-bit seed named by one latent code's float32 bytes: generate() draws that sample's injected
    noise from it, so the code alone (not its batch, device or the global random state) names the sample."""
    return int.from_bytes(hashlib.blake2b(code.detach().cpu().float().numpy().tobytes(), digest_size=8).digest(), "little")


class NoiseInjection(nn.Module):
    """Adds per-pixel Gaussian noise, with a learned strength per channel starting at 0 (so the
    noise enters only as far as G finds it useful: texture that no latent code needs to name)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class UpBlock(nn.Module):
    """x2 nearest up-sampling, one 3x3 convolution, noise, batch norm, GLU (the paper's block)."""

    def __init__(self, c_in: int, c_out: int, noise: bool = True):
        super().__init__()
        self.conv = _conv(c_in, 2 * c_out, 3, padding=1)
        self.noise = NoiseInjection(2 * c_out) if noise else None
        self.norm = nn.BatchNorm2d(2 * c_out)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        x = self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
        if self.noise is not None:
            x = self.noise(x, noise)
        return F.glu(self.norm(x), 1)


class SLE(nn.Module):
    """Skip-layer excitation: the low-resolution map's channels, pooled and squeezed through a
    sigmoid, gate the high-resolution map's channels."""

    def __init__(self, c_low: int, c_high: int):
        super().__init__()
        self.squeeze = nn.Sequential(nn.AdaptiveAvgPool2d(4), _conv(c_low, c_high, 4), nn.LeakyReLU(0.1),
                                     _conv(c_high, c_high, 1), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.squeeze(low)


def sle_pairs(size: int) -> list[tuple[int, int]]:
    """(source, target) resolutions of G's SLE modules: the paper's 8->128, 16->256, 32->512 where
    they fit; below 128 px, where none does, one from 8 px (4 px at 16 px) to the output resolution."""
    pairs = [(r, 16 * r) for r in (8, 16, 32) if 16 * r <= size]
    return pairs or [(8 if size >= 32 else 4, size)]


class Generator(nn.Module):
    """z (``N x z_dim``) -> ``N x channels x size x size`` in [-1, 1]."""

    def __init__(self, size: int, z_dim: int, ngf: int, channels: int = 4):
        super().__init__()
        self.resolutions = [2 ** k for k in range(3, int(math.log2(size)) + 1)]
        w4 = g_width(4, ngf)
        self.init = nn.Sequential(spectral_norm(nn.ConvTranspose2d(z_dim, 2 * w4, 4, bias=False)), nn.BatchNorm2d(2 * w4), nn.GLU(1))
        self.ups = nn.ModuleList(UpBlock(g_width(r // 2, ngf), g_width(r, ngf)) for r in self.resolutions)
        self.sles = nn.ModuleDict({str(hi): SLE(g_width(lo, ngf), g_width(hi, ngf)) for lo, hi in sle_pairs(size)})
        self.source_of = {hi: lo for lo, hi in sle_pairs(size)}
        self.to_image = _conv(g_width(size, ngf), channels, 3, padding=1, bias=True)

    def noise_shapes(self, n: int) -> list[tuple[int, ...]]:
        return [(n, 1, r, r) for r in self.resolutions]

    def forward(self, z: torch.Tensor, noises: list[torch.Tensor] | None = None) -> torch.Tensor:
        """``noises``: one ``N x 1 x r x r`` tensor per up-sampling block; drawn from torch's
        global generator (on the CPU) where not given."""
        if noises is None:
            noises = [torch.randn(s).to(z.device, z.dtype) for s in self.noise_shapes(len(z))]
        x = self.init(z[:, :, None, None])
        kept = {4: x}
        for r, up, noise in zip(self.resolutions, self.ups, noises):
            x = up(x, noise)
            if r in self.source_of:
                x = self.sles[str(r)](kept[self.source_of[r]], x)
            kept[r] = x
        return torch.tanh(self.to_image(x))


class DownBlock(nn.Module):
    """Residual halving: strided 4x4 and 3x3 convolutions beside average pooling and a 1x1
    convolution; the two paths are averaged."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.main = nn.Sequential(_conv(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2),
                                  _conv(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))
        self.skip = nn.Sequential(nn.AvgPool2d(2), _conv(c_in, c_out, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.skip(x)) / 2


class Decoder(nn.Module):
    """8x8 features -> an ``channels x out x out`` image in [-1, 1]: up-sampling blocks (no noise)
    halving the channels, then a 3x3 convolution."""

    def __init__(self, c_in: int, out: int, channels: int = 4):
        super().__init__()
        widths = [max(4, c_in // 2 ** (k + 1)) for k in range(int(math.log2(out // 8)))]
        self.blocks = nn.ModuleList(UpBlock(a, b, noise=False) for a, b in zip([c_in, *widths], widths))
        self.to_image = _conv(widths[-1], channels, 3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    """``N x channels x size x size`` -> ``N x 1 x 5 x 5`` logits; :meth:`features` also gives the
    16x16 and 8x8 maps the decoders read."""

    def __init__(self, size: int, ndf: int, channels: int = 4):
        super().__init__()
        if size <= 256:
            stem, res = [_conv(channels, d_width(size, ndf), 3, 1, 1), nn.LeakyReLU(0.2)], size
        else:  # the paper halves a 1024 px image to 256 px with plain strided convolutions first
            stem, res = [_conv(channels, d_width(size // 2, ndf), 4, 2, 1), nn.LeakyReLU(0.2)], size // 2
            while res > 256:
                stem += [_conv(d_width(res, ndf), d_width(res // 2, ndf), 4, 2, 1), nn.BatchNorm2d(d_width(res // 2, ndf)),
                         nn.LeakyReLU(0.2)]
                res //= 2
        self.stem = nn.Sequential(*stem)
        self.downs = nn.ModuleList(DownBlock(d_width(r, ndf), d_width(r // 2, ndf)) for r in self._halvings(res))
        self.logits = nn.Sequential(_conv(d_width(8, ndf), d_width(8, ndf), 1), nn.BatchNorm2d(d_width(8, ndf)), nn.LeakyReLU(0.2),
                                    _conv(d_width(8, ndf), 1, 4, bias=True))
        self.recon_size = min(size, RECON_SIZE)
        self.decode_whole = Decoder(d_width(8, ndf), self.recon_size, channels)
        self.decode_part = Decoder(d_width(16, ndf), self.recon_size, channels)

    @staticmethod
    def _halvings(res: int) -> list[int]:
        return [2 ** k for k in range(int(math.log2(res)), 3, -1)]

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the 16x16 map, the 8x8 map) of images ``x``."""
        x = self.stem(x)
        f16 = x if x.shape[-1] == 16 else None
        for down in self.downs:
            x = down(x)
            if x.shape[-1] == 16:
                f16 = x
        return f16, x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(x)[1])


class FastGAN(Baseline):
    """FastGAN with a mask channel (see the module docstring).

    ``ngf``, ``ndf``: G's and D's base widths (:func:`g_width`; 64 gives the paper's scale, 8-16 fit a
    CPU at 16-64 px: at 32 px and batch 8, widths 8 take about 0.1 s a step on 2 cores, widths 16 about
    0.3 s). ``augment``: the DiffAugment policy (``""`` for none). ``recon_loss``:
    the decoders' loss, ``"l1"`` only (the paper's LPIPS needs pretrained weights; see
    ``deviations``). ``ema_decay``: G's weights are averaged for sampling at this decay (ramped up
    over the first steps, so short runs sample from a recent average); 0 samples from G itself.
    """

    name: ClassVar[str] = "fastgan"
    paper: ClassVar[str] = ("Liu, Zhu, Song, Elgammal: Towards Faster and Stabilized GAN Training for High-fidelity Few-shot "
                            "Image Synthesis, ICLR 2021")
    deviations: ClassVar[tuple[str, ...]] = (
        "4 output channels (RGB and the mask) instead of 3, as the SinGAN-Seg authors ran it.",
        "The decoders' reconstruction loss is L1 on the 4-channel images; the paper uses the LPIPS perceptual loss, whose "
        "pretrained VGG/AlexNet weights the kit cannot fetch offline (and which knows nothing of a mask channel).",
        "DiffAugment's colour transforms leave the mask channel alone, and translation and cutout fill the mask with -1 "
        "(background); the SinGAN-Seg authors' 4-channel run coloured the mask too and padded it with 0, a half-mask value.",
        "Any power-of-two size from 16 to 1024 px (the paper: 256 and 1024); below 128 px, where the paper's 16-fold SLE "
        "skips do not fit, one SLE module runs from 8 px (4 px at 16 px) to the output, and the decoders reconstruct at the "
        "image's own size when it is under 128 px.",
        "D has one path (the full-size image); the paper's few details on how layer widths fall with resolution are "
        "followed in spirit (g_width/d_width), not channel for channel.",
        "One random crop of D's 16x16 features (half its side, anywhere on the map) per batch, not per image.",
        "G's weights are averaged (ema_decay 0.999, ramped up over the first steps) and samples come from the average; the "
        "paper does not describe an average (its authors' released training code keeps one).",
        "generate() draws each sample's injected noise from a generator seeded by its latent code, so a code names one sample "
        "on any device and sampling leaves the training random state alone; training draws noise from torch's global generator.",
    )

    def __init__(self, size: int = 256, z_dim: int = 256, ngf: int = 64, ndf: int = 64, lr: float = 2e-4,
                 betas: tuple[float, float] = (0.5, 0.999), augment: str = DEFAULT_POLICY, recon_loss: str = "l1",
                 ema_decay: float = 0.999):
        if not 16 <= size <= 1024:
            raise ValueError(f"FastGAN: size must be a power of two from 16 to 1024, got {size}")
        if recon_loss not in RECON_LOSSES:
            raise ValueError(f"FastGAN: recon_loss {recon_loss!r} is not implemented; valid: {', '.join(RECON_LOSSES)}")
        if not 0 <= ema_decay < 1:
            raise ValueError(f"FastGAN: ema_decay must be in [0, 1), got {ema_decay}")
        super().__init__(size, z_dim, {"z_dim": z_dim, "ngf": ngf, "ndf": ndf, "lr": lr, "betas": list(betas),
                                       "augment": check_policy(augment), "recon_loss": recon_loss, "ema_decay": ema_decay})
        self.g = Generator(size, z_dim, ngf)
        self.d = Discriminator(size, ndf)
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False).eval() if ema_decay > 0 else None
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr, betas=tuple(betas))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr, betas=tuple(betas))
        self.ema_updates = 0  # how many averaging steps so far (the ramp), kept in the state dict below

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"g": self.opt_g, "d": self.opt_d}

    def get_extra_state(self) -> dict:
        return {"ema_updates": self.ema_updates}

    def set_extra_state(self, state: dict) -> None:
        self.ema_updates = int(state["ema_updates"])

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """Samples of codes ``z`` from the averaged G in eval mode (batch norm's running statistics, so a
        sample does not depend on the rest of its batch), each with its injected noise drawn from a
        generator seeded by its code (:func:`_hash_seed`), which leaves torch's global random state alone."""
        g = self.g_ema if self.g_ema is not None else self.g
        was_training = g.training
        g.eval()
        z = z.to(self.device)
        shapes = g.noise_shapes(1)
        # one copy to the CPU for all codes (not one transfer per code on an accelerator)
        per_code = [[torch.randn(s, generator=torch.Generator().manual_seed(_hash_seed(code))) for s in shapes] for code in z.cpu()]
        noises = [torch.cat(level).to(z.device, z.dtype) for level in zip(*per_code)]
        out = g(z, noises)
        g.train(was_training)
        return out

    def _crop(self, f16: torch.Tensor, reals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A random 8x8 crop of D's 16x16 features and the part of ``reals`` it covers."""
        oy, ox = (int(v) for v in torch.randint(0, 9, (2,)))
        scale = reals.shape[-1] // 16
        part = reals[:, :, oy * scale:(oy + 8) * scale, ox * scale:(ox + 8) * scale]
        return f16[:, :, oy:oy + 8, ox:ox + 8], part

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        out = self.d.recon_size
        if x.shape[-1] == out:
            return x
        return F.interpolate(x, size=(out, out), mode="area" if x.shape[-1] > out else "bilinear", align_corners=None)

    def train_step(self, reals: torch.Tensor, step: int, total_steps: int) -> dict[str, float]:
        """One D update (hinge loss on augmented reals and fakes, plus the decoders' L1
        reconstruction of the augmented reals), then one G update (the hinge generator loss,
        ``-D(fake)``), then the weight average."""
        reals = reals.to(self.device)
        policy = self.options["augment"]
        # a loaded GAN comes back in eval mode; training must use batch statistics and power iteration
        self.g.train()
        self.d.train()
        z = torch.randn(len(reals), self.z_dim).to(self.device)
        fakes = self.g(z)

        self.d.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        seen = diff_augment(reals, policy)
        f16, f8 = self.d.features(seen)
        d_real = F.relu(1 - self.d.logits(f8)).mean()
        crop, part = self._crop(f16, seen)
        recon = (F.l1_loss(self.d.decode_whole(f8), self._resize(seen))
                 + F.l1_loss(self.d.decode_part(crop), self._resize(part)))
        d_fake = F.relu(1 + self.d(diff_augment(fakes.detach(), policy))).mean()
        (d_real + d_fake + recon).backward()
        self.opt_d.step()

        self.d.requires_grad_(False)  # G's step needs D's gradient with respect to its input only
        self.opt_g.zero_grad(set_to_none=True)
        g_adv = -self.d(diff_augment(fakes, policy)).mean()
        g_adv.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)
        self._update_average()
        return {"d_real": d_real.item(), "d_fake": d_fake.item(), "d_recon": recon.item(), "g_adv": g_adv.item()}

    @torch.no_grad()
    def _update_average(self) -> None:
        if self.g_ema is None:
            return
        self.ema_updates += 1
        # the ramp: early on the average follows G closely, so it is not held near the random start
        decay = min(self.options["ema_decay"], (1 + self.ema_updates) / (10 + self.ema_updates))
        for p_avg, p in zip(self.g_ema.parameters(), self.g.parameters()):
            p_avg.lerp_(p, 1 - decay)
        for b_avg, b in zip(self.g_ema.buffers(), self.g.buffers()):
            b_avg.copy_(b)

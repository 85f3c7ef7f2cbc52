"""The networks: one small generator and discriminator per scale, and the pyramid holding them.

Every scale has the same 5-layer fully convolutional design (docs/algorithm.md §2.4): 3x3
convolutions without padding, BatchNorm and LeakyReLU(0.2); the generator ends in Tanh and adds its input
image (a residual), the discriminator ends in a 1-channel patch score map. The 4 image channels
(RGB + mask) pass through the same networks; nothing is mask-specific.

Submodule names follow the reference code (``head.conv``, ``body.block1.norm``, ``tail.0``...)
so that published reference checkpoints map onto these modules one to one.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from singanseg_lib.singan.batchnorm import per_sample_batch_norm
from singanseg_lib.singan.pyramid import ScalePlan, upsample_to

PAD = 5  # (kernel 3 - 1) * 5 layers / 2: what the 5 unpadded convolutions take off each border


class ShareableModelError(ValueError):
    """What a shareable export cannot do: it holds no reconstruction noise (see singan/export.py)."""


class ConvBlock(nn.Sequential):
    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel_size, stride=1, padding=0))
        self.add_module("norm", nn.BatchNorm2d(out_ch))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2, inplace=True))


def _body(widths: tuple[int, ...], kernel_size: int) -> nn.Sequential:
    body = nn.Sequential()
    for i in range(1, len(widths)):
        body.add_module(f"block{i}", ConvBlock(widths[i - 1], widths[i], kernel_size))
    return body


def init_weights(module: nn.Module) -> None:
    """Reference init: conv weights N(0, 0.02); BatchNorm weight N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class ScaleGenerator(nn.Module):
    """G_n: ``tanh(f(noise_amp * z + prev)) + prev``, on inputs zero-padded by :data:`PAD` pixels.

    ``widths`` are the output channels of head and body blocks (4 entries for the reference's
    5 layers: head, 3 body blocks; the tail maps back to ``channels``).
    """

    def __init__(self, channels: int = 4, widths: tuple[int, ...] = (32, 32, 32, 32), kernel_size: int = 3):
        super().__init__()
        self.channels, self.widths, self.kernel_size = channels, tuple(widths), kernel_size
        self.pad_size = padding_for(kernel_size, len(widths) + 1)
        self.head = ConvBlock(channels, widths[0], kernel_size)
        self.body = _body(tuple(widths), kernel_size)
        self.tail = nn.Sequential(nn.Conv2d(widths[-1], channels, kernel_size, stride=1, padding=0), nn.Tanh())

    def forward(self, x: torch.Tensor, prev_padded: torch.Tensor) -> torch.Tensor:
        """``x``, ``prev_padded``: N x C x (h + 2·PAD) x (w + 2·PAD); returns N x C x h x w."""
        return _add_cropped(self.tail(self.body(self.head(x))), prev_padded)

    def forward_per_sample(self, x: torch.Tensor, prev_padded: torch.Tensor, repeats: list[int]) -> torch.Tensor:
        """:meth:`forward` of N samples as N batch-1 train-mode calls, BatchNorm written out
        (:func:`~singanseg_lib.singan.batchnorm.per_sample_batch_norm`, sample i counted ``repeats[i]`` times)."""
        return _add_cropped(self.tail(_blocks_per_sample(self, x, repeats)), prev_padded)


class ScaleDiscriminator(nn.Module):
    """D_n: a patch critic; N x C x h x w -> N x 1 x (h - 2·PAD) x (w - 2·PAD) scores (no activation)."""

    def __init__(self, channels: int = 4, widths: tuple[int, ...] = (32, 32, 32, 32), kernel_size: int = 3):
        super().__init__()
        self.channels, self.widths, self.kernel_size = channels, tuple(widths), kernel_size
        self.head = ConvBlock(channels, widths[0], kernel_size)
        self.body = _body(tuple(widths), kernel_size)
        self.tail = nn.Conv2d(widths[-1], 1, kernel_size, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))

    def forward_per_sample(self, x: torch.Tensor, repeats: list[int]) -> torch.Tensor:
        """:meth:`forward` of N samples as N batch-1 train-mode calls (see ScaleGenerator's)."""
        return self.tail(_blocks_per_sample(self, x, repeats))

    def scores_and_input_gradient(self, x: torch.Tensor, *, per_sample: bool = False,
                                  rows: slice | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``D(x)`` and ``d sum(D(x)[rows]) / dx[rows]``, the input gradient written out as ordinary operations.

        The same values as ``torch.autograd.grad(D(x).sum(), x, create_graph=True)`` up to float
        rounding (and the same BatchNorm running-statistics updates), but differentiating the
        result again, as the gradient penalty's backward does, is a plain first-order backward
        rather than PyTorch's double backward; torch.compile can trace and fuse it (the compiled
        critic step of :class:`~singanseg_lib.singan.layout.Layout`). Per layer, backwards: LeakyReLU
        passes ``g`` where its input was positive and ``slope * g`` elsewhere; train-mode
        BatchNorm (batch statistics mean, var) maps ``g`` to
        ``gamma / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))``; a convolution's
        input gradient is the transposed convolution with the same weights.

        ``per_sample``: the batch stands for N batch-1 calls in order (each sample normalised by
        its own statistics, :func:`~singanseg_lib.singan.batchnorm.per_sample_batch_norm`); samples are
        then independent and ``rows`` picks those whose input gradient is computed.
        """
        if rows is not None and not per_sample:
            raise ValueError("rows: only with per_sample (batch statistics couple all samples' gradients)")
        rows = rows if rows is not None else slice(None)
        dims = (2, 3) if per_sample else (0, 2, 3)  # what the statistics average over
        saved = []
        h = x
        for block in (self.head, *self.body):
            conv, bn, act = block.conv, block.norm, block.LeakyRelu
            z = conv(h)
            if per_sample:
                y, inv_std, xhat = per_sample_batch_norm(bn, z)
                inv_std, xhat = inv_std[rows], xhat[rows]
            else:
                y = bn(z)
                if bn.training or bn.running_mean is None:  # normalised by this batch's statistics
                    var, mean = torch.var_mean(z, dim=dims, correction=0, keepdim=True)
                    inv_std = torch.rsqrt(var + bn.eps)
                    xhat = (z - mean) * inv_std
                else:
                    inv_std, xhat = torch.rsqrt(bn.running_var + bn.eps).view(1, -1, 1, 1), None
            saved.append((conv.weight, bn.weight.view(1, -1, 1, 1) * inv_std, xhat, y[rows] > 0, act.negative_slope))
            h = F.leaky_relu(y, act.negative_slope)
        scores = self.tail(h)
        g = F.conv_transpose2d(torch.ones_like(scores[rows]), self.tail.weight)
        for weight, scale, xhat, positive, slope in reversed(saved):
            g = torch.where(positive, g, g * slope)
            if xhat is not None:
                g = g - g.mean(dim=dims, keepdim=True) - xhat * (g * xhat).mean(dim=dims, keepdim=True)
            g = F.conv_transpose2d(g * scale, weight)
        return scores, g


def _add_cropped(out: torch.Tensor, prev_padded: torch.Tensor) -> torch.Tensor:
    crop = (prev_padded.shape[-1] - out.shape[-1]) // 2
    return out + prev_padded[..., crop:prev_padded.shape[-2] - crop, crop:prev_padded.shape[-1] - crop]


def _blocks_per_sample(net: nn.Module, x: torch.Tensor, repeats: list[int]) -> torch.Tensor:
    for block in (net.head, *net.body):
        y, _, _ = per_sample_batch_norm(block.norm, block.conv(x), repeats)
        x = F.leaky_relu(y, block.LeakyRelu.negative_slope)
    return x


def padding_for(kernel_size: int, num_layers: int) -> int:
    """Pixels the unpadded convolutions take off each border (reference: (ker_size - 1) * num_layer / 2)."""
    return (kernel_size - 1) * num_layers // 2


def pad(x: torch.Tensor, amount: int = PAD) -> torch.Tensor:
    """Zero padding by ``amount`` pixels (:data:`PAD` for the reference's 5 layers of 3x3), as the
    reference pads both noise and image."""
    return F.pad(x, (amount, amount, amount, amount))


class SinGANPyramid(nn.Module):
    """The trained scales of one SinGAN-Seg model, coarsest first.

    Holds the generators (``generators.0``, ``generators.1``...), the reconstruction noise
    ``z_opt`` (unpadded, 1 x C x h x w; zeros above scale 0), the noise amplitudes, and the plan.
    ``.to()``, ``.eval()`` and ``state_dict()`` act on everything at once. A shareable export
    (:mod:`~singanseg_lib.singan.export`) has no ``z_opt`` at all: it generates from start scale
    0 only, since every other start scale and the reconstruction replay that stored noise.
    """

    def __init__(self, plan: ScalePlan, channels: int = 4):
        super().__init__()
        self.plan, self.channels = plan, channels
        self.generators = nn.ModuleList()
        self.noise_amps: list[float] = []

    @property
    def num_trained(self) -> int:
        return len(self.generators)

    def add_scale(self, generator: ScaleGenerator, noise_amp: float, z_opt: torch.Tensor | None) -> None:
        """Append a trained (frozen, eval-mode) scale; ``z_opt=None`` for a shareable export
        (then at every scale, so the model is either complete or shareable, never half of each)."""
        n = self.num_trained
        if n >= self.plan.num_scales:
            raise ValueError(f"all {self.plan.num_scales} scales of the plan are already trained")
        if n and (z_opt is None) != self.shareable:
            raise ValueError(f"scale {n}: z_opt {'missing' if z_opt is None else 'given'}, but not at the "
                             "scales before it (a shareable model stores it at no scale)")
        expect = (1, self.channels, *self.plan.sizes[n])
        if z_opt is not None and tuple(z_opt.shape) != expect:
            raise ValueError(f"z_opt of scale {n} has shape {tuple(z_opt.shape)}, expected {expect}")
        generator.eval().requires_grad_(False)
        self.generators.append(generator)
        self.noise_amps.append(float(noise_amp))
        self.register_buffer(f"z_opt_{n}", None if z_opt is None else z_opt.detach().clone())

    @property
    def shareable(self) -> bool:
        """Whether this is a shareable export (no reconstruction noise stored)."""
        return self.num_trained > 0 and getattr(self, "z_opt_0") is None

    def z_opt(self, scale: int) -> torch.Tensor:
        z = getattr(self, f"z_opt_{scale}")
        if z is None:
            raise ShareableModelError(
                "this model is a shareable export: it holds no reconstruction noise z_opt (that noise regenerates "
                "the training image), so it cannot reconstruct nor generate from a start scale above 0, whose "
                "coarser scales replay the reconstruction; generate with start_scale=0, or use the full model")
        return z

    @property
    def device(self) -> torch.device:
        return next(self.generators[0].parameters()).device if self.num_trained else torch.device("cpu")

    def run_scale(self, scale: int, z: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """One generator step: z (unpadded noise, N x C x h x w) and prev (same size) -> output."""
        g = self.generators[scale]
        prev_padded = pad(prev, g.pad_size)
        return g(self.noise_amps[scale] * pad(z, g.pad_size) + prev_padded, prev_padded)

    def reconstruct(self, *, upto: int | None = None) -> list[torch.Tensor]:
        """The reconstruction path (stored z_opt at every scale): one 1 x C x h x w output per scale."""
        upto = self.num_trained - 1 if upto is None else upto
        return self.generate([], start_scale=upto + 1, upto=upto, batch=1, keep_all=True)

    def generate(self, noises: list[torch.Tensor], *, start_scale: int = 0, upto: int | None = None,
                 batch: int | None = None, keep_all: bool = False):
        """Run the pyramid from the coarsest scale up to ``upto`` (default: the finest trained).

        Scales below ``start_scale`` follow the reconstruction path (stored z_opt, as
        ``gen_start_scale`` does in the reference); from ``start_scale`` on, ``noises[s -
        start_scale]`` (N x C x h_s x w_s) is used. Returns the last output (N x C x h x w), or
        the list of every scale's output when ``keep_all``. Call it under ``torch.no_grad()``
        unless gradients are wanted.
        """
        upto = self.num_trained - 1 if upto is None else upto
        if not 0 <= upto < self.num_trained:
            raise ValueError(f"upto={upto} but {self.num_trained} scales are trained")
        if len(noises) < upto + 1 - start_scale:
            raise ValueError(f"{len(noises)} noise maps given for scales {start_scale}..{upto}")
        n = batch if batch is not None else noises[0].shape[0]
        outs, out = [], None
        for s in range(upto + 1):
            if s == 0:
                prev = torch.zeros(n, self.channels, *self.plan.sizes[0], device=self.device,
                                   dtype=next(self.generators[0].parameters()).dtype)
            else:
                prev = upsample_to(out, self.plan, s)
            z = self.z_opt(s).expand(n, -1, -1, -1) if s < start_scale else noises[s - start_scale]
            out = self.run_scale(s, z, prev)
            outs.append(out)
        return outs if keep_all else out

"""DCGAN (Radford, Metz and Chintala, ICLR 2016) with a 4th output channel: the paper's "DCGAN-4ch" row.

The architecture follows the paper's guidelines for stable deep convolutional GANs:

* no pooling and no fully connected hidden layers: the generator upsamples with fractionally
  strided convolutions (``ConvTranspose2d``, kernel 4, stride 2) from a 4x4 projection of ``z``,
  the discriminator downsamples with strided convolutions and ends in one logit;
* batch normalisation in both networks, except at the generator's output and the
  discriminator's input (putting it there made the paper's models oscillate);
* ReLU in the generator with tanh at its output, leaky ReLU (slope 0.2) in the discriminator;
* weights drawn from N(0, 0.02) (batch-norm scales from N(1, 0.02), as the reference
  implementations do), Adam with learning rate 2e-4 and beta1 0.5 (0.9 oscillated), z of 100
  uniform-or-normal numbers (normal here), minibatches of 128 (the trainer's choice here).

At 64x64 with ``base_channels`` 64 (ngf = ndf = 64) this is the network the SinGAN-Seg authors ran
as DCGAN-4ch: the generator goes 4x4x512 -> 8x8x256 -> 16x16x128 -> 32x32x64 -> 64x64x4 and the
discriminator mirrors it. Other power-of-two sizes use log2(size) - 2 up/down blocks, with channels
doubling towards the 4x4 end, so ``size=32, base_channels=16`` is a seconds-per-hundred-steps CPU model.

The loss is the original GAN's: binary cross-entropy on the discriminator's logit (the paper's
sigmoid folded into ``BCEWithLogits`` for numerical stability) and the non-saturating generator
loss, -log D(G(z)), which Goodfellow et al. recommend and the paper's code uses.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from singanseg_lib.baselines.base import Baseline

__all__ = ["DCGAN"]

CHANNELS = 4  # RGB + mask


def _levels(size: int) -> int:
    """Stride-2 blocks between 4x4 and ``size``."""
    return int(math.log2(size)) - 2


class Generator(nn.Module):
    """z -> (ConvT, BN, ReLU) x levels -> ConvT -> tanh; ``base_channels`` is the width next to the output."""

    def __init__(self, size: int, z_dim: int, base_channels: int):
        super().__init__()
        levels = _levels(size)
        width = base_channels * 2 ** (levels - 1)
        # the paper's "project and reshape" of z to 4x4 is a 4x4 transposed convolution on a 1x1 input
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(levels - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        # no batch norm at the output: the paper found it destabilised training
        layers += [nn.ConvTranspose2d(width, CHANNELS, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """x -> Conv, LReLU -> (Conv, BN, LReLU) x (levels - 1) -> 4x4 Conv -> one logit per image."""

    def __init__(self, size: int, base_channels: int):
        super().__init__()
        levels = _levels(size)
        width = base_channels
        # no batch norm on the input layer, for the same reason as at the generator's output
        layers: list[nn.Module] = [nn.Conv2d(CHANNELS, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(levels - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def _init_weights(module: nn.Module) -> None:
    """The paper's N(0, 0.02) for every convolution; batch-norm scales near 1 so the start is not degenerate."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGAN(Baseline):
    """Radford et al.'s DCGAN with 4 channels (RGB + mask); hyper-parameter defaults are the paper's.

    ``train_step`` does what the paper's Algorithm (Goodfellow et al.'s, k = 1) does: one
    discriminator update on a batch of reals and as many fakes, then one generator update on those
    fakes seen by the updated discriminator. ``generate`` runs the generator with batch norm in
    evaluation mode (its running statistics), so that a latent code names one sample whatever
    else is in its batch.
    """

    name: ClassVar[str] = "dcgan"
    paper: ClassVar[str] = ("Radford, Metz and Chintala, Unsupervised Representation Learning with Deep Convolutional "
                            "Generative Adversarial Networks, ICLR 2016 (arXiv:1511.06434)")
    deviations: ClassVar[tuple[str, ...]] = (
        "Four channels in and out (RGB, then the polyp mask in [-1, 1]) where the paper has three; a sample's "
        "mask is its 4th channel thresholded at 0.",
        "The paper trains at 64x64 with 64 base channels; here any power-of-two size >= 8 works (log2(size) - 2 "
        "up/down blocks) and base_channels can be made smaller for CPU runs. 64x64 and 64 channels is the paper's "
        "network and the SinGAN-Seg authors' DCGAN-4ch.",
        "The discriminator returns a logit and the loss is BCE-with-logits, which is the paper's sigmoid + binary "
        "cross-entropy computed in a numerically stable way.",
        "Samples are drawn with batch norm in evaluation mode (running statistics); the paper does not say how it "
        "sampled, and batch statistics would make a sample depend on the rest of its batch.",
        "No data augmentation inside the GAN. The SinGAN-Seg authors' 4-channel runs used their code base's "
        "augmentation, which also colour-jittered the mask channel and padded translations with a half-mask value "
        "(so their masks had grey borders); here the mask channel is only ever what the data set holds.",
    )

    def __init__(self, size: int = 64, z_dim: int = 100, base_channels: int = 64, lr: float = 2e-4,
                 beta1: float = 0.5, beta2: float = 0.999):
        super().__init__(size, z_dim, {"z_dim": z_dim, "base_channels": base_channels, "lr": lr,
                                       "beta1": beta1, "beta2": beta2})
        if base_channels < 1:
            raise ValueError(f"DCGAN: base_channels must be >= 1, got {base_channels}")
        self.generator = Generator(self.size, self.z_dim, base_channels)
        self.discriminator = Discriminator(self.size, base_channels)
        self.apply(_init_weights)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(beta1, beta2))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(beta1, beta2))

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z.to(self.device))
        finally:
            self.generator.train(was_training)

    def train_step(self, reals: torch.Tensor, step: int, total_steps: int) -> dict[str, float]:
        """One D then one G update (the schedule-free DCGAN ignores ``step`` and ``total_steps``)."""
        self.generator.train()
        self.discriminator.train()
        reals = reals.to(self.device)
        n = reals.shape[0]
        # drawn on the CPU from torch's global generator, which the trainer seeds and saves: the same seed
        # then names the same run on any device, and a resumed run continues exactly
        z = torch.randn(n, self.z_dim).to(self.device)
        fakes = self.generator(z)

        # reals and fakes go through D as separate batches, as in the paper's code: batch norm then
        # normalises each on its own statistics, which is part of what makes DCGAN train
        real_logits = self.discriminator(reals)
        fake_logits = self.discriminator(fakes.detach())
        loss_d_real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
        loss_d_fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        loss_d = loss_d_real + loss_d_fake
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # non-saturating: maximise log D(G(z)) rather than minimise log(1 - D(G(z))), whose gradient
        # vanishes while D still rejects the fakes easily, early in training
        gen_logits = self.discriminator(fakes)
        loss_g = F.binary_cross_entropy_with_logits(gen_logits, torch.ones_like(gen_logits))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        # logged values only: detached, so that turning them into floats neither warns nor keeps the graphs alive
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(),
                "d_real": torch.sigmoid(real_logits.detach()).mean().item(),
                "d_fake": torch.sigmoid(fake_logits.detach()).mean().item()}

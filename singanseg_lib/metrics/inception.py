"""The Inception v3 feature networks behind SIFID and FID.

Two sets of weights fit the same layers, and every result names which one it used:

- ``"fid"``: pytorch-fid's FID Inception (the TensorFlow ``inception-2015-12-05`` graph, with
  pytorch-fid's ``FIDInceptionA/C/E`` blocks). FID always uses it. Its weights can be had
  offline (``singanseg weights fid-from-helper``).
- ``"torchvision"``: torchvision's ImageNet Inception v3, the network the SinGAN SIFID code used.

Three taps (input N×3×H×W in [0, 1], mapped to [-1, 1] as pytorch-fid and the SinGAN code do):

- ``64``: the 64 channels of ``Conv2d_2b_3x3`` before the first max-pool (the SinGAN code's
  SIFID; its ``inception.py`` moves the pool into the next block, unlike pytorch-fid);
- ``192``: the 192 channels of ``Conv2d_4a_3x3`` before the second max-pool (the SinGAN paper's
  wording);
- ``2048``: pool3, the global average of ``Mixed_7c`` (FID).

The SIFID taps see the image at its own size (no resizing, as the SinGAN code); pool3 expects
the 299×299 input FID prepares (:mod:`.fid`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2
from torch import nn

from singanseg_lib.kit.weights import ResolvedWeights, random_init, random_weights, resolve_weights

# network name -> weights registry entry
FEATURE_NETWORKS = {"fid": "fid_inception", "torchvision": "inception_v3_imagenet"}
# feature dims -> the layer they come from
TAPS = {64: "Conv2d_2b_3x3 (before the 1st max-pool)", 192: "Conv2d_4a_3x3 (before the 2nd max-pool)",
        2048: "pool3 (average of Mixed_7c)"}


def fid_inception_layout() -> nn.Module:
    """pytorch-fid's FID Inception without weights: torchvision's Inception v3 (1008 classes, no
    aux head) with the blocks that differ swapped in, as ``pytorch_fid.inception.fid_inception_v3``."""
    net = torchvision.models.inception_v3(weights=None, num_classes=1008, aux_logits=False, init_weights=False)
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


def _torchvision_layout() -> nn.Module:
    return torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)


class InceptionFeatures(nn.Module):
    """Inception v3 up to the deepest requested tap; ``forward`` returns {dims: features}.

    ``features[64]``/``[192]``: N×C×h×w maps; ``features[2048]``: N×2048. ``label`` names the
    network and its weights (with the random-weights note when they are random).
    """

    def __init__(self, net: nn.Module, *, network: str, weights: ResolvedWeights):
        super().__init__()
        self.network, self.weights = network, weights
        self.stem = nn.Sequential(net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3)
        self.block2 = nn.Sequential(nn.MaxPool2d(3, 2), net.Conv2d_3b_1x1, net.Conv2d_4a_3x3)
        self.block3 = nn.Sequential(nn.MaxPool2d(3, 2), net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a,
                                    net.Mixed_6b, net.Mixed_6c, net.Mixed_6d, net.Mixed_6e, net.Mixed_7a,
                                    net.Mixed_7b, net.Mixed_7c)
        self.eval().requires_grad_(False)

    @property
    def label(self) -> str:
        return f"Inception v3 '{self.network}' ({self.weights.label})"

    def forward(self, images01: torch.Tensor, dims: tuple[int, ...] = (2048,)) -> dict[int, torch.Tensor]:
        unknown = sorted(set(dims) - set(TAPS))
        if unknown:
            raise ValueError(f"feature dims {unknown} not available; choose from {sorted(TAPS)}")
        out = {}
        x = self.stem(2 * images01 - 1)
        out[64] = x
        if max(dims) > 64:
            x = self.block2(x)
            out[192] = x
        if max(dims) > 192:
            out[2048] = F.adaptive_avg_pool2d(self.block3(x), 1).flatten(1)
        return {d: out[d] for d in dims}


def random_inception(network: str = "fid", *, seed: int = 0) -> nn.Module:
    """The full layout of ``network`` with seeded random weights, usable as a feature network.

    PyTorch's default init makes activations shrink layer by layer (pool3 ends near 1e-8), so
    the batch-norm statistics are set from one pass over 2 seeded uniform-noise images at
    299×299: every layer then gives activations of order 1, as trained weights do.
    """
    if network not in FEATURE_NETWORKS:
        raise ValueError(f"unknown feature network {network!r}; choose from {', '.join(FEATURE_NETWORKS)}")
    with random_init(seed):
        net = fid_inception_layout() if network == "fid" else _torchvision_layout()
    features = InceptionFeatures(net, network=network, weights=random_weights(FEATURE_NETWORKS[network]))
    batch_norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in batch_norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: the statistics of exactly this pass
    features.train()
    with torch.no_grad():
        features(torch.rand(2, 3, 299, 299, generator=torch.Generator().manual_seed(seed)), dims=(2048,))
    for bn in batch_norms:
        bn.momentum = 0.1
    return net.eval()


def load_inception(network: str = "fid", *, weights: ResolvedWeights | None = None, weights_path=None,
                   allow_random: bool = False, download: bool = True, device: str | torch.device = "cpu",
                   progress: bool = True) -> InceptionFeatures:
    """Build the feature network ``network`` ("fid" or "torchvision") with its weights resolved by
    :func:`weights.resolve_weights` (or the given ``weights``). Random weights only with
    ``allow_random`` (or ``weights=random_weights(...)``): :func:`random_inception`, seed 0, so
    two runs give the same random features. ``progress``: the download's bar, if one is needed."""
    if network not in FEATURE_NETWORKS:
        raise ValueError(f"unknown feature network {network!r}; choose from {', '.join(FEATURE_NETWORKS)}")
    if weights is None:
        weights = resolve_weights(FEATURE_NETWORKS[network], path=weights_path, allow_random=allow_random,
                                  download=download, progress=progress)
    if weights.random:
        return InceptionFeatures(random_inception(network), network=network, weights=weights).to(device)
    with random_init(0):
        net = fid_inception_layout() if network == "fid" else _torchvision_layout()
    try:
        net.load_state_dict(weights.state_dict())
    except RuntimeError as e:
        raise ValueError(f"{weights.path}: does not fit the '{network}' Inception layout ({e})") from None
    return InceptionFeatures(net, network=network, weights=weights).to(device)

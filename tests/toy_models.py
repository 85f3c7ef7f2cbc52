"""Small SinGAN-Seg models and images for the training and sampling tests, made without training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import FIXTURES
from PIL import Image

from singanseg_lib.data.images import MASK_THRESHOLD
from singanseg_lib.singan import checkpoint, models, train
from singanseg_lib.singan.pyramid import plan_scales

POLYP = FIXTURES / "reference-singan-seg-ms128" / "polyp_with_4_channels.png"  # 622x529 RGBA, mask in alpha


def polyp_image() -> torch.Tensor:
    """The reference fixture's polyp as a 4-channel training tensor."""
    rgba = np.array(Image.open(POLYP))
    return train.to_training_tensor(rgba[..., :3], rgba[..., 3] > MASK_THRESHOLD)


def make_model(model_dir: Path | None = None, *, size=(40, 48), max_size=48, seed=0, image_id="img0"):
    """A random model: convolutions scaled so that noise reaches the output (the reference init,
    N(0, 0.02), gives near-constant images at this width), BatchNorm statistics randomised too
    so that folding them is tested.

    Noise amplitudes as in training: 1 at the coarsest scale, 0.1 above. Saved with
    ``checkpoint.save_scale`` when ``model_dir`` is given; returns the pyramid.
    """
    torch.manual_seed(seed)
    plan = plan_scales(*size, min_size=12, max_size=max_size)
    meta = checkpoint.new_meta(plan, channels=4, seed=seed, config={},
                               source={"image_id": image_id, "image_path": f"/data/images/{image_id}.jpg",
                                       "mask_path": f"/data/masks/{image_id}.jpg"})
    pyr = models.SinGANPyramid(plan)
    for s in range(plan.num_scales):
        g = models.ScaleGenerator(4, (8,) * 4)
        models.init_weights(g)
        for m in g.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.data.normal_(0, 1.5 / (9 * m.in_channels) ** 0.5)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2), m.running_var.uniform_(0.5, 2.0), m.bias.data.normal_(0, 0.1)
        z = torch.randn(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        amp = 1.0 if s == 0 else 0.1
        real = torch.rand(1, 4, *plan.sizes[s]) * 2 - 1
        real[:, 3] = torch.where(torch.arange(plan.sizes[s][1]) < plan.sizes[s][1] // 3, 1.0, -1.0)
        pyr.add_scale(g, amp, z)
        if model_dir is not None:
            meta = checkpoint.save_scale(model_dir, meta, s, g, noise_amp=amp, z_opt=z, real=real)
    return pyr

"""DiffAugment on 4-channel images: colour on RGB only, geometry moving image and mask together, fills of 0 (RGB)
and -1 (mask), differentiable, seeded by torch's global generator, and a clear error for an unknown policy."""
from __future__ import annotations

import pytest
import torch
from toy_discs import discs

from singanseg_lib.baselines.augment import (
    CUTOUT_RATIO,
    DEFAULT_POLICY,
    MASK_FILL,
    RGB_FILL,
    TRANSLATION_RATIO,
    diff_augment,
)


def _twins(n: int = 16, size: int = 16) -> torch.Tensor:
    """Discs whose three RGB channels equal the mask, so where the image went the mask must have gone too."""
    mask = discs(n, size, 0)[:, 3:]
    return torch.cat([mask, mask, mask, mask], 1)


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` (C x H x W) moved by (dy, dx) pixels, the pixels that come in filled as the kit fills them."""
    out = torch.full_like(x, MASK_FILL)
    out[:3] = RGB_FILL
    h, w = x.shape[-2:]
    out[:, max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = x[:, max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_colour_changes_rgb_and_leaves_the_mask_channel_alone():
    x = discs(8, 16, 0)
    torch.manual_seed(0)
    y = diff_augment(x, "color")
    assert torch.equal(y[:, 3], x[:, 3])
    assert (y[:, :3] - x[:, :3]).abs().amax((1, 2, 3)).min() > 1e-3  # every image's colours moved


def test_translation_is_a_whole_pixel_shift_of_image_and_mask_together():
    x = discs(16, 16, 1)
    torch.manual_seed(1)
    y = diff_augment(x, "translation")
    limit = int(16 * TRANSLATION_RATIO + 0.5)
    moved = 0
    for xi, yi in zip(x, y):
        shifts = [(dy, dx) for dy in range(-limit, limit + 1) for dx in range(-limit, limit + 1)
                  if torch.equal(_shifted(xi, dy, dx), yi)]
        assert shifts, "not one shift of all four channels"
        moved += shifts[0] != (0, 0)
    assert moved >= 12  # (0, 0) is 1 shift in 25


@pytest.mark.parametrize("policy", ["translation", "cutout", DEFAULT_POLICY.replace("color,", "")])
def test_geometry_keeps_the_mask_on_the_image_and_fills_rgb_0_and_mask_minus_1(policy):
    x = _twins()
    torch.manual_seed(2)
    y = diff_augment(x, policy)
    rgb, mask = y[:, :3], y[:, 3:]
    filled = (rgb == RGB_FILL).all(1, keepdim=True) & (mask == MASK_FILL)
    assert ((rgb == mask).all(1, keepdim=True) | filled).all()  # every pixel is the image's own mask, or the fill
    assert filled.any() and (mask[~filled.expand_as(mask)] == 1).any()  # some fill, and discs survive
    assert not torch.equal(y, x)


def test_the_cutout_is_one_square_of_the_fill():
    x = torch.ones(32, 4, 16, 16)
    torch.manual_seed(3)
    y = diff_augment(x, "cutout")
    cut = y[:, 3] == MASK_FILL
    assert torch.equal(cut, (y[:, :3] == RGB_FILL).all(1)) and (y[~cut[:, None].expand_as(y)] == 1).all()
    side = int(16 * CUTOUT_RATIO + 0.5)
    for c in cut:
        rows, cols = c.any(1).nonzero().flatten(), c.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= side and 1 <= len(cols) <= side  # clipped by the border at most
        assert c.sum() == len(rows) * len(cols)  # a (clipped) rectangle, nothing else
    assert (cut.flatten(1).sum(1) == side * side).any()  # some squares lie wholly inside


def test_gradients_pass_through_every_transform():
    x = discs(2, 8, 4).double().requires_grad_(True)

    def seeded(v):
        with torch.random.fork_rng(devices=[]):  # gradcheck calls it many times: the same draws each time
            torch.manual_seed(5)
            return diff_augment(v, DEFAULT_POLICY)
    assert torch.autograd.gradcheck(seeded, (x,), eps=1e-6, atol=1e-5)
    seeded(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_draws_come_from_torchs_global_generator_and_an_empty_policy_is_the_identity():
    x = discs(8, 16, 6)
    torch.manual_seed(7)
    a = diff_augment(x)
    torch.manual_seed(7)
    assert torch.equal(a, diff_augment(x))
    assert not torch.equal(a, diff_augment(x))
    assert torch.equal(diff_augment(x, ""), x)
    assert diff_augment(x[:, :3]).shape == (8, 3, 16, 16)  # plain RGB works too


@pytest.mark.parametrize("policy", ["colour", "color,flip", "Translation"])
def test_an_unknown_policy_name_raises_and_lists_the_valid_ones(policy):
    with pytest.raises(ValueError, match=r"unknown DiffAugment policy .*valid: color, translation, cutout"):
        diff_augment(discs(2, 8, 0), policy)

"""Sampling: seeds per sample, batching, start scales, output formats, diversity statistics."""

import pytest
import torch
from toy_models import make_model

from singanseg_lib.sampling import generate
from singanseg_lib.singan import checkpoint, models
from singanseg_lib.singan.pyramid import plan_scales


@pytest.fixture(scope="module")
def pyr():
    return make_model()


def test_sample_seeds_are_stable_distinct_and_validated():
    seeds = [generate.sample_seed(s, k) for s in range(3) for k in range(50)]
    assert len(set(seeds)) == len(seeds) and all(0 <= x < 2**63 for x in seeds)
    assert generate.sample_seed(7, 3) == generate.sample_seed(7, 3)
    assert generate.sample_seed(0, 1) == 1030834380917543463  # the documented BLAKE2b recipe, frozen
    with pytest.raises(ValueError, match="base_seed"):
        generate.sample_seed(-1, 0)


def test_batched_equals_one_by_one_and_any_sample_alone(pyr):
    batched = generate.generate_samples(pyr, 5, seed=3, batch_size=5)
    singles = [generate.generate_samples(pyr, 1, seed=3, first=k, batch_size=1) for k in range(5)]
    assert batched.indices == list(range(5)) and batched.seeds == [s.seeds[0] for s in singles]
    assert torch.allclose(batched.images, torch.cat([s.images for s in singles]), atol=1e-5)
    assert torch.equal(batched.masks, torch.cat([s.masks for s in singles]))
    alone = generate.generate_from_seeds(pyr, [batched.seeds[3]])  # from its recorded seed only
    assert torch.allclose(alone.images[0], batched.images[3], atol=1e-5)
    assert not torch.allclose(batched.images[0], batched.images[1], atol=0.05)  # samples differ


def test_fused_fast_path_matches_the_plain_pyramid(pyr):
    fast = generate.generate_samples(pyr, 3, seed=1)
    plain = generate.generate_samples(pyr, 3, seed=1, fuse=False)
    assert torch.allclose(fast.images, plain.images, atol=1e-5)
    assert (fast.masks != plain.masks).float().mean() < 1e-3
    half = generate.generate_samples(pyr, 3, seed=1, precision="bfloat16")
    assert (half.images - plain.images).abs().mean() < 0.02  # close, not equal: bfloat16 convolutions


def test_outputs_are_images_in_range_and_binary_masks(pyr):
    s = generate.generate_samples(pyr, 4, seed=0)
    h, w = pyr.plan.sizes[-1]
    assert s.images.shape == (4, 3, h, w) and s.masks.shape == (4, h, w) and s.masks.dtype == torch.bool
    assert s.images.min() >= -1 and s.images.max() <= 1
    u8 = generate.to_uint8(s.images)
    assert u8.shape == (4, h, w, 3) and u8.dtype.name == "uint8"


def test_original_size_output(pyr):
    s = generate.generate_samples(pyr, 2, seed=0, original_size=True)
    assert s.images.shape[-2:] == pyr.plan.original_size and s.masks.shape[-2:] == pyr.plan.original_size
    small = generate.generate_samples(pyr, 2, seed=0)
    share_big, share_small = generate.polyp_shares(s.masks), generate.polyp_shares(small.masks)
    assert torch.allclose(share_big, share_small, atol=0.1)  # the same samples, only resized


def test_start_scale_at_number_of_scales_is_the_reconstruction(pyr):
    n = pyr.plan.num_scales
    with torch.no_grad():
        rec = pyr.reconstruct()[-1]
    for k in range(2):  # whatever the seed; one at a time, as reconstruct() runs (batch 1)
        s = generate.generate_samples(pyr, 1, seed=5, first=k, start_scale=n, fuse=False)
        assert torch.equal(s.images, rec[:, :3].clamp(-1, 1)) and torch.equal(s.masks, rec[:, 3] > 0)
    batch = generate.generate_samples(pyr, 3, seed=5, start_scale=n)  # batched and fused: float rounding only
    assert torch.allclose(batch.images, rec[:, :3].clamp(-1, 1).expand(3, -1, -1, -1), atol=1e-5)


def test_higher_start_scale_gives_less_variance(pyr):
    var = [generate.generate_samples(pyr, 8, seed=2, start_scale=s).images.var(dim=0).mean().item()
           for s in (0, 2)]
    assert var[1] < 0.5 * var[0]


def test_same_seed_same_noise_whatever_the_start_scale(pyr):
    a = generate.sample_noises(pyr.plan, 11)
    assert len(a) == pyr.plan.num_scales and all(torch.equal(a[0][0], a[0][c]) for c in range(4))
    b = generate.sample_noises(pyr.plan, 11)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_bad_start_scale_and_incomplete_model_are_refused(pyr):
    n = pyr.plan.num_scales
    with pytest.raises(ValueError, match=f"start_scale must be an int in 0..{n}"):
        generate.generate_samples(pyr, 1, start_scale=n + 1)
    partial = models.SinGANPyramid(pyr.plan)
    partial.add_scale(pyr.generators[0], 1.0, pyr.z_opt(0))
    with pytest.raises(ValueError, match=f"1 of its {n} scales"):
        generate.generate_samples(partial, 1)


def test_default_batch_size_follows_memory(pyr):
    small = generate.default_batch_size(pyr.plan)
    big = generate.default_batch_size(plan_scales(529, 622))
    assert small == 8 and 1 <= big < 8


def test_mask_statistics_closed_form():
    masks = torch.zeros(4, 2, 3, dtype=torch.bool)
    masks[:2, 0, 0] = True  # pixel (0, 0) set in half the samples
    masks[:, 1, 2] = True   # pixel (1, 2) set in all
    mean, sd = generate.mask_mean_sd(masks)
    assert mean[0, 0] == 0.5 and sd[0, 0] == 0.5 and mean[1, 2] == 1 and sd[1, 2] == 0
    assert generate.mask_diversity(masks) == pytest.approx(0.5 / 6)
    assert generate.polyp_shares(masks).tolist() == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])
    summary = generate.share_summary([0.0, 0.1, 0.2, 0.3])
    assert summary["n"] == 4 and summary["mean"] == pytest.approx(0.15) and summary["empty"] == 0.25


def test_real_mask_from_stored_reals(tmp_path):
    make_model(tmp_path)
    loaded = checkpoint.load_model(tmp_path)
    mask = generate.real_mask(loaded.reals)
    assert mask.shape == loaded.pyramid.plan.sizes[-1]
    assert generate.polyp_shares(mask[None]).item() == pytest.approx(1 / 3, abs=0.05)

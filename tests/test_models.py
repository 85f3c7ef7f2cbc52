import torch

from singanseg_lib import models
from singanseg_lib.pyramid import plan_scales


def _pyramid(trained=3, seed=0):
    torch.manual_seed(seed)
    plan = plan_scales(60, 80, max_size=60)
    pyr = models.SinGANPyramid(plan)
    for s in range(trained):
        g = models.ScaleGenerator(4, (plan.widths[s],) * 4)
        models.init_weights(g)
        z = torch.randn(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        pyr.add_scale(g, 1.0 if s == 0 else 0.1, z)
    return pyr


def test_shapes_of_generator_and_discriminator():
    g, d = models.ScaleGenerator(4, (32,) * 4), models.ScaleDiscriminator(4, (32,) * 4)
    x = torch.randn(2, 4, 30, 40)
    assert g(models.pad(x), models.pad(x)).shape == x.shape
    assert d(x).shape == (2, 1, 20, 30)


def test_generator_is_residual_on_prev():
    g = models.ScaleGenerator(4, (8,) * 4)
    torch.nn.init.zeros_(g.tail[0].weight), torch.nn.init.zeros_(g.tail[0].bias)
    prev = torch.randn(1, 4, 20, 20)
    assert torch.equal(g(models.pad(prev), models.pad(prev)), prev)  # tanh(0) + prev


def test_reconstruction_path_equals_start_scale_beyond_trained():
    pyr = _pyramid()
    with torch.no_grad():
        rec = pyr.reconstruct()
        direct = pyr.generate([], start_scale=3, batch=1)
    assert [tuple(r.shape[-2:]) for r in rec] == list(pyr.plan.sizes[:3])
    assert torch.equal(rec[-1], direct)


def test_batched_generation_equals_one_by_one():
    pyr = _pyramid()
    gens = [torch.Generator().manual_seed(k) for k in range(3)]
    noises = [torch.stack([models.draw_noise((4, *pyr.plan.sizes[s]), s, generator=g) for g in gens])
              for s in range(3)]
    with torch.no_grad():
        batch = pyr.generate(noises)
        single = [pyr.generate([n[k:k + 1] for n in noises]) for k in range(3)]
    assert torch.allclose(batch, torch.cat(single), atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])  # different noise, different samples


def test_coarsest_noise_is_one_channel_repeated():
    z = models.draw_noise((4, 5, 6), 0, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(z[0], z[c]) for c in range(4))
    z1 = models.draw_noise((4, 5, 6), 1, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(z1[0], z1[1])

import copy

import torch

from singanseg_lib.singan import models, noise
from singanseg_lib.singan.pyramid import plan_scales


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
    noises = [torch.stack([noise.draw_noise((4, *pyr.plan.sizes[s]), s, generator=g) for g in gens])
              for s in range(3)]
    with torch.no_grad():
        batch = pyr.generate(noises)
        single = [pyr.generate([n[k:k + 1] for n in noises]) for k in range(3)]
    assert torch.allclose(batch, torch.cat(single), atol=1e-5)
    assert not torch.allclose(batch[0], batch[1])  # different noise, different samples


def test_coarsest_noise_is_one_channel_repeated():
    z = noise.draw_noise((4, 5, 6), 0, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(z[0], z[c]) for c in range(4))
    z1 = noise.draw_noise((4, 5, 6), 1, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(z1[0], z1[1])


def test_written_out_input_gradient_equals_autograd_and_its_gradients_too():
    """The critic's input gradient as ordinary operations (what the compiled critic step
    differentiates) against autograd's double backward, in float64: train-mode BatchNorm (batch
    statistics) and eval mode (running statistics); values, weight gradients of a penalty on
    it, and BatchNorm running statistics."""
    torch.manual_seed(0)
    for train_mode in (True, False):
        d = models.ScaleDiscriminator(4, (8, 16, 16, 8)).double()  # PyTorch's default init: O(1) gradients
        with torch.no_grad():
            for m in d.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.weight.uniform_(0.5, 1.5), m.bias.normal_(0.0, 0.2)
                    m.running_var.uniform_(0.5, 2.0), m.running_mean.normal_(0.0, 0.1)
        d.train(train_mode)
        d2 = copy.deepcopy(d)
        x = torch.randn(2, 4, 23, 27, dtype=torch.float64)
        xr = x.clone().requires_grad_(True)
        scores = d(xr)
        (grad,) = torch.autograd.grad(scores.sum(), xr, create_graph=True)
        scores2, grad2 = d2.scores_and_input_gradient(x)
        torch.testing.assert_close(scores2, scores, rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(grad2, grad, rtol=1e-12, atol=1e-14)
        assert grad.abs().max() > 1e-2  # not a trivially small comparison
        ((grad.norm(dim=1) - 1) ** 2).mean().backward()
        ((grad2.norm(dim=1) - 1) ** 2).mean().backward()
        for (name, p), p2 in zip(d.named_parameters(), d2.parameters()):
            if name.endswith("conv.bias") and train_mode:  # zero in exact arithmetic before a train-mode BatchNorm
                continue
            g1 = p.grad if p.grad is not None else torch.zeros_like(p)
            g2 = p2.grad if p2.grad is not None else torch.zeros_like(p2)
            torch.testing.assert_close(g2, g1, rtol=1e-10, atol=1e-14, msg=name)
        for (name, b), b2 in zip(d.named_buffers(), d2.buffers()):
            assert torch.equal(b, b2), name


def test_written_out_critic_pass_per_sample_equals_batch_one_calls_in_order():
    """One batch-3 pass with per-sample BatchNorm (the compiled critic step's real, fake and
    x_hat) against three batch-1 train-mode calls in that order, float64: scores, x_hat's input
    gradient, the weight gradients of the whole critic loss, and the running statistics."""
    torch.manual_seed(1)
    d = models.ScaleDiscriminator(4, (8, 16, 16, 8)).double().train()
    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5), m.bias.normal_(0.0, 0.2)
    d2 = copy.deepcopy(d)
    real, fake, x = torch.randn(3, 1, 4, 21, 25, dtype=torch.float64)
    s_real, s_fake = d(real), d(fake)
    xr = x.clone().requires_grad_(True)
    s_x = d(xr)
    (grad,) = torch.autograd.grad(s_x.sum(), xr, create_graph=True)
    (s_fake.mean() - s_real.mean() + ((grad.norm(dim=1) - 1) ** 2).mean()).backward()

    scores, grad2 = d2.scores_and_input_gradient(torch.cat([real, fake, x]), per_sample=True, rows=slice(2, 3))
    torch.testing.assert_close(scores, torch.cat([s_real, s_fake, s_x]), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad2, grad, rtol=1e-12, atol=1e-14)
    (scores[1].mean() - scores[0].mean() + ((grad2.norm(dim=1) - 1) ** 2).mean()).backward()
    for (name, p), p2 in zip(d.named_parameters(), d2.parameters()):
        if not name.endswith("conv.bias"):  # zero up to rounding before a train-mode BatchNorm
            torch.testing.assert_close(p2.grad, p.grad, rtol=1e-10, atol=1e-14, msg=name)
    for (name, b), b2 in zip(d.named_buffers(), d2.buffers()):
        assert torch.allclose(b2, b, rtol=1e-12, atol=1e-14), (name, (b2 - b).abs().max().item())
    try:
        d2.scores_and_input_gradient(torch.cat([real, fake]), rows=slice(1, 2))
    except ValueError as err:
        assert "per_sample" in str(err)
    else:
        raise AssertionError("rows without per_sample must be refused")

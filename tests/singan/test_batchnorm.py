"""The closed-form BatchNorm shortcuts equal the reference's sequential batch-1 forwards."""
import contextlib
import copy

import torch

from singanseg_lib.singan.batchnorm import bn_updates_as, composite_bn, per_sample_bn
from singanseg_lib.singan.models import ScaleDiscriminator, ScaleGenerator, init_weights, pad


def _net(seed=0):
    torch.manual_seed(seed)
    g = ScaleGenerator(4, (8,) * 4)
    init_weights(g)
    with torch.no_grad():  # non-trivial running statistics to start from
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
    return g.train()


def _buffers_close(a, b, tol=1e-6):
    for (na, ta), (nb, tb) in zip(a.named_buffers(), b.named_buffers()):
        assert na == nb
        if "num_batches" in na:
            assert torch.equal(ta, tb), na
        else:
            assert torch.allclose(ta, tb, rtol=tol, atol=tol), (na, (ta - tb).abs().max())


def test_one_forward_stands_for_identical_repeated_forwards():
    seq, once = _net(), _net()
    x = pad(torch.randn(1, 4, 12, 14))
    for _ in range(3):
        out_seq = seq(x, x)
    with bn_updates_as(once, 3):
        out_once = once(x, x)
    assert torch.equal(out_seq, out_once)  # train mode: batch statistics, not running ones
    _buffers_close(seq, once)
    assert all(m.momentum == 0.1 for m in once.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_batched_forward_equals_sequential_batch_one_forwards():
    seq, bat = _net(), _net()
    xs = [pad(torch.randn(1, 4, 12, 14)) for _ in range(3)]
    repeats = [1, 2, 0]  # sample 1 stands for two passes, sample 2 was already counted
    outs = []
    for x, k in zip(xs, repeats):
        if k:
            with bn_updates_as(seq, k):
                outs.append(seq(x, x))
        else:  # forward whose statistics are not counted: run a copy
            outs.append(copy.deepcopy(seq)(x, x))
    x = torch.cat(xs)
    with per_sample_bn(bat, repeats):
        out = bat(x, x)
    assert torch.allclose(out, torch.cat(outs), atol=1e-6)
    _buffers_close(seq, bat)
    # gradients of the batched forward are those of the separate ones (conv biases before a
    # train-mode BatchNorm have gradient 0 up to rounding noise: not compared)
    names = [n for n, _ in seq.named_parameters() if not n.endswith("conv.bias")]
    seq_grads = torch.autograd.grad(sum(o.square().sum() for o in outs[:2]),
                                    [dict(seq.named_parameters())[n] for n in names])
    bat_grads = torch.autograd.grad(out[:2].square().sum(), [dict(bat.named_parameters())[n] for n in names])
    for name, gs, gb in zip(names, seq_grads, bat_grads):
        assert torch.allclose(gs, gb, rtol=1e-4, atol=1e-5 * gs.abs().max().item()), name
    assert "forward" not in vars(bat.head.norm)  # the module's own forward is back


def test_composite_batchnorm_has_the_same_values_and_second_derivatives():
    """The gradient penalty differentiates through the critic's input gradient."""
    torch.manual_seed(0)
    native = ScaleDiscriminator(4, (8,) * 4).double()
    init_weights(native)
    composite = copy.deepcopy(native)
    x = torch.randn(1, 4, 20, 22, dtype=torch.float64)

    def penalty_grads(net, ctx):
        xi = x.clone().requires_grad_(True)
        with ctx:
            out = net(xi)
        (g,) = torch.autograd.grad(out.sum(), xi, create_graph=True)
        gp = ((g.norm(2, dim=1) - 1) ** 2).mean()
        names = [n for n, _ in net.named_parameters() if not n.endswith(("conv.bias", "tail.bias"))]  # no effect
        return out, torch.autograd.grad(gp, [dict(net.named_parameters())[n] for n in names])

    out_n, grads_n = penalty_grads(native, contextlib.nullcontext())
    out_c, grads_c = penalty_grads(composite, composite_bn(composite))
    torch.testing.assert_close(out_c, out_n, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_c, grads_n):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    _buffers_close(native, composite, tol=1e-12)

"""The optimised training iteration computes what the reference's wasteful one computes.

``singanseg_lib/singan/algorithm.py`` is the reference's iteration written out (batch-1
forwards, coarser generators re-run per critic step, three generator passes, three backward
calls per critic step); with its float resize it must agree with ScaleTrainer to rounding.

The comparison runs in float64. In float32 both agree to ~1e-6 almost everywhere, but a
pre-activation within rounding of LeakyReLU's kink can take the other slope in one of them,
which moves a gradient by up to ~1e-2 (a discontinuity of the algorithm, not a difference
between the two). Learning rates are 0 so that the comparison is not blurred by Adam's first
steps (lr * sign(gradient): a gradient at rounding level flips a whole step) nor by the GAN's
sensitivity (in the reference itself a 1e-6 change of one weight grows to percent differences
within 5 iterations); every gradient handed to the optimisers is compared instead.
"""
import copy
import warnings

import pytest
import torch
from conftest import REPO

from singanseg_lib.singan import algorithm as reference_iteration
from singanseg_lib.singan import step as wgan
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.layout import Layout
from singanseg_lib.singan.models import SinGANPyramid
from singanseg_lib.singan.pyramid import build_pyramid, plan_scales
from singanseg_lib.singan.step import ScaleTrainer
from singanseg_lib.singan.train import init_networks


def _image(seed=0, h=44, w=52):
    """A smooth random 'image' with a blob mask, 1 x 4 x h x w in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 7, generator=g), size=(h, w), mode="bilinear") * 2 - 1
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    mask = ((yy - 0.2) ** 2 + (xx + 0.1) ** 2 < 0.25).float() * 2 - 1
    return torch.cat([rgb, mask[None, None]], 1)


def _setup(scale, cfg):
    img = _image()
    plan = plan_scales(*img.shape[-2:], max_size=40)
    reals = build_pyramid(img, plan)
    pyr = SinGANPyramid(plan)
    for s in range(scale):  # frozen coarser scales: random weights with non-trivial running statistics
        g, _ = init_networks(cfg, s, plan.widths[s], 7 + s, None)
        with torch.no_grad():
            for m in g.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.fill_(0.02)
        z = torch.randn(1, 1, *plan.sizes[s]).expand(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        pyr.add_scale(g, 1.0 if s == 0 else 0.1, z)
    G, D = init_networks(cfg, scale, plan.widths[scale], 0, None)
    return pyr, reals[scale], G, D


def _record_gradients(opt, store):
    opt.register_step_pre_hook(lambda o, args, kwargs: store.append(
        [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for grp in o.param_groups for p in grp["params"]]))


# conv biases right before a train-mode BatchNorm (and the critic's last bias, whose gradient is
# -1 + 1) have gradient 0 in exact arithmetic: only rounding noise, different in any two codes
def _noise_only(name):
    return name.endswith("conv.bias") or name == "tail.bias"


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


@pytest.mark.parametrize("layout", [Layout(), Layout(batched=True), Layout(gp_composite_bn=True),
                                    pytest.param(Layout(compiled=True), marks=pytest.mark.slow)],
                         ids=["batch-1 calls", "batched calls", "composite BatchNorm in the penalty",
                              "compiled steps"])
@pytest.mark.parametrize("scale", [0, 1])
def test_iteration_equals_the_reference_computation(scale, layout, float64):
    torch.manual_seed(0)
    cfg = TrainConfig(lr_g=0.0, lr_d=0.0, iters_per_scale=10, channels_last="off")
    pyr, real, G, D = _setup(scale, cfg)
    pyr, real, G, D = pyr.double(), real.double(), G.double(), D.double()
    G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
    ours = ScaleTrainer(pyr, real, G, D, cfg, seed=3, layout=layout)
    ref = reference_iteration.ReferenceIteration(pyr, real, G2, D2, cfg, seed=3, uint8_resize=False)
    assert ours.noise_amp == pytest.approx(ref.noise_amp, rel=1e-12)
    grads_ours, grads_ref = [], []
    for opt, store in ((ours.opt_d, grads_ours), (ours.opt_g, grads_ours), (ref.opt_d, grads_ref), (ref.opt_g, grads_ref)):
        _record_gradients(opt, store)
    for _ in range(2):  # at scale 1 also checks the rand images batched over iterations
        torch.testing.assert_close(ours.step(), ref.step(), rtol=1e-10, atol=1e-12)
    assert ours.layout == layout  # a compiled step that fell back to eager would not be tested
    assert len(grads_ours) == len(grads_ref) == 2 * (cfg.d_steps + 1)
    names = [[n for n, _ in net.named_parameters()] for net in (D, D, D, G)] * 2
    for step_names, a, b in zip(names, grads_ours, grads_ref):
        for name, ga, gb in zip(step_names, a, b):
            if not _noise_only(name):
                assert (ga - gb).abs().max() <= 1e-10 * gb.abs().max(), name
    for net, net2 in ((G, G2), (D, D2)):
        for (name, a), (_, b) in zip(net.named_buffers(), net2.named_buffers()):
            if "num_batches" in name:  # the reference's 3 generator passes = 3 BatchNorm updates
                assert torch.equal(a, b), name
            else:
                torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_one_update_vs_three_updates_per_iteration():
    cfg = TrainConfig(iters_per_scale=3, channels_last="off")
    runs = {}
    for mode, g_steps in (("once", 3), ("per_step", 3), ("once", 1), ("per_step", 1)):
        pyr, real, G, D = _setup(0, cfg)
        c = TrainConfig(iters_per_scale=3, g_update=mode, g_steps=g_steps, channels_last="off")
        t = ScaleTrainer(pyr, real, G, D, c, seed=1)
        for _ in range(3):
            t.step()
        runs[mode, g_steps] = (t, G)
    adam_steps = {k: int(next(iter(t.opt_g.state.values()))["step"]) for k, (t, _) in runs.items()}
    assert adam_steps == {("once", 3): 3, ("per_step", 3): 9, ("once", 1): 3, ("per_step", 1): 3}
    tracked = {k: int(G.head.norm.num_batches_tracked) for k, (_, G) in runs.items()}
    # per iteration: 3 critic-step fakes + 3 reconstruction passes (+ 2 regenerated fakes)
    assert tracked[("once", 3)] == 3 * 6 and tracked[("per_step", 3)] == 3 * 8
    g_once, g_per = runs[("once", 3)][1], runs[("per_step", 3)][1]
    assert not torch.allclose(g_once.body.block1.conv.weight, g_per.body.block1.conv.weight)
    # with a single generator pass the two modes are the same algorithm
    for a, b in zip(runs[("once", 1)][1].state_dict().values(), runs[("per_step", 1)][1].state_dict().values()):
        assert torch.equal(a, b)


def test_numpy_uint8_resize_of_the_benchmark_matches_the_device_resize():
    from singanseg_lib.singan.pyramid import resize

    x = _image()
    ref = reference_iteration.numpy_uint8_resize(x, 1 / 0.8)
    ours = resize(x, 1 / 0.8).clamp(-1, 1)
    assert ref.shape == ours.shape
    assert (ref - ours).abs().max() <= 2.5 * 2 / 255  # uint8 quantisation on both ends, border mirroring


def test_a_failing_compiler_warns_and_the_scale_trains_without_it(monkeypatch):
    """No C++ compiler (or a backend torch.compile lacks): the first compiled call fails; the
    trainer warns, switches to the uncompiled step (recorded in its layout) and computes what a
    trainer that never tried computes."""
    def broken_compile(fn, **kwargs):
        def call(*args):
            raise RuntimeError("InductorError: no working C++ compiler found\nmore detail")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(wgan, "COMPILE_FAILURES", [])
    cfg = TrainConfig(iters_per_scale=4, channels_last="off", lr_g=0.0, lr_d=0.0)  # see the module docstring
    pyr, real, G, D = _setup(0, cfg)
    plain = ScaleTrainer(pyr, real, copy.deepcopy(G), copy.deepcopy(D), cfg, seed=3, layout=Layout())
    tried = ScaleTrainer(pyr, real, G, D, cfg, seed=3, layout=Layout(compiled=True))
    with pytest.warns(RuntimeWarning, match="scale 0: torch.compile of the training steps failed .*no working C"):
        first = tried.step()
    assert tried.layout == Layout()
    torch.testing.assert_close(first, plain.step())
    torch.testing.assert_close(tried.step(), plain.step())
    # the next scale does not try again (each try could take a while before failing)
    pyr1, real1, G1, D1 = _setup(1, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ScaleTrainer(pyr1, real1, G1, D1, cfg, seed=3, layout=Layout(compiled=True)).layout == Layout()


def test_compiling_on_a_cpu_does_not_print_torchs_cuda_runtime_warning():
    """torch's CUDA build logs "No CUDA runtime is found" when inductor first imports its
    cpp_extension on a GPU-less machine with nvcc; the compiled layout imports it quietly first."""
    import subprocess
    import sys

    def stderr_of(code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=REPO).stderr

    if torch.cuda.is_available():
        pytest.skip("the warning is only printed without a GPU")
    if "No CUDA runtime" not in stderr_of("import torch.utils.cpp_extension"):
        pytest.skip("this torch build and machine print no such warning")
    quiet = stderr_of("import logging\nfrom singanseg_lib.singan import layout\nlayout.import_cpp_extension_quietly()\n"
                      "import torch.utils.cpp_extension\n"
                      "assert logging.getLogger('torch.utils.cpp_extension').level == logging.NOTSET")
    assert "No CUDA runtime" not in quiet

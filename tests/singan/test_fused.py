"""Fused training: M models as one grouped network are the M models trained alone."""
import pytest
import torch

from singanseg_lib.singan import fused as fusion
from singanseg_lib.singan import train
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.models import ScaleDiscriminator, ScaleGenerator, init_weights

CFG = dict(max_size=34, nfc=8, max_nfc=8, device="cpu", channels_last="off")


def _image(seed, h=44, w=52):
    """A smooth random image with a blob mask, 1 x 4 x h x w in [-1, 1]; one plan for every seed."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.nn.functional.interpolate(torch.rand(1, 3, 6, 7, generator=g), size=(h, w), mode="bilinear") * 2 - 1
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    cy, cx = (torch.rand(2, generator=g) - 0.5).tolist()
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < 0.25).float() * 2 - 1
    return torch.cat([rgb, mask[None, None]], 1)


@pytest.fixture
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def _alone_and_fused(tmp_path, cfg, seeds):
    alone = [train.train_model(_image(i), tmp_path / "alone" / str(i), cfg, seed=s, progress=False)
             for i, s in enumerate(seeds)]
    opened = [train.open_model(_image(i), tmp_path / "fused" / str(i), cfg, seed=s) for i, s in enumerate(seeds)]
    together = fusion.train_fused(opened, [tmp_path / "fused" / str(i) for i in range(len(seeds))], cfg, progress=False)
    return alone, together


def _differences(a, b) -> dict[str, float]:
    """Largest difference per kind of number: weights, the rounding-noise-driven ones (below),
    BatchNorm running statistics, noise amplitudes and fixed noise, over every scale."""
    out = {"weights": 0.0, "rounding noise": 0.0, "noise": 0.0}
    nets_a = list(a.pyramid.generators) + list(a.discriminators)
    nets_b = list(b.pyramid.generators) + list(b.discriminators)
    assert len(nets_a) == len(nets_b) == 2 * a.pyramid.plan.num_scales
    for na, nb in zip(nets_a, nets_b):
        sa, sb = na.state_dict(), nb.state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            if key.endswith("num_batches_tracked"):
                assert torch.equal(sa[key], sb[key]), key
                continue
            kind = "rounding noise" if _rounding_noise(key) else "weights"
            out[kind] = max(out[kind], (sa[key] - sb[key]).abs().max().item())
    for s in range(a.pyramid.num_trained):
        out["noise"] = max(out["noise"], (a.pyramid.z_opt(s) - b.pyramid.z_opt(s)).abs().max().item(),
                           abs(a.pyramid.noise_amps[s] - b.pyramid.noise_amps[s]))
    return out


def _rounding_noise(key: str) -> bool:
    """A convolution's bias in front of a train-mode BatchNorm has gradient 0 in exact arithmetic:
    what any code computes for it is rounding noise, which Adam (step lr * g / (|g| + eps))
    turns into steps of ~lr * 1e-6 in float64. Those biases and the running means they feed
    differ between any two codes (tests/singan/test_step.py leaves them out too)."""
    return key.endswith("conv.bias") or key.endswith("norm.running_mean")


def test_fused_networks_compute_each_model_on_its_channels(float64):
    gens, crits = [], []
    for i in range(3):
        torch.manual_seed(i)
        g, d = ScaleGenerator(4, (8,) * 4), ScaleDiscriminator(4, (8,) * 4)
        init_weights(g), init_weights(d)
        gens.append(g.train()), crits.append(d.train())
    fg, fd = fusion.fuse(gens), fusion.fuse(crits)
    x, prev = torch.randn(1, 12, 30, 30), torch.randn(1, 12, 30, 30)
    out, scores = fg(x, prev), fd(x)
    assert out.shape == (1, 12, 20, 20) and scores.shape == (1, 3, 20, 20)
    for m in range(3):
        block = slice(4 * m, 4 * m + 4)
        torch.testing.assert_close(out[:, block], gens[m](x[:, block], prev[:, block]), rtol=0, atol=1e-13)
        torch.testing.assert_close(scores[:, m:m + 1], crits[m](x[:, block]), rtol=0, atol=1e-13)
    fusion.unfuse(fg, gens)  # the forwards moved both copies' running statistics alike
    for m, g in enumerate(gens):
        torch.testing.assert_close(g.head.norm.running_mean, fg.head.norm.running_mean.chunk(3)[m], rtol=0, atol=0)


def test_a_model_trained_fused_is_the_model_trained_alone(tmp_path, float64):
    cfg = TrainConfig(iters_per_scale=5, **CFG)
    alone, together = _alone_and_fused(tmp_path, cfg, seeds=[3, 4, 5])
    assert alone[0].pyramid.plan.num_scales == 2
    for a, b in zip(alone, together):
        diff = _differences(a, b)
        assert diff["weights"] < 1e-10 and diff["noise"] < 1e-10 and diff["rounding noise"] < 1e-6, diff
    assert _differences(alone[0], alone[1])["weights"] > 1e-2, "a positive control: the models differ"

    meta = train.read_meta(tmp_path / "fused" / "1")
    assert [e["fused_models"] for e in meta["scales"]] == [3, 3] and meta["seed"] == 4


def test_float32_fused_models_equal_alone_within_rounding_and_learn(tmp_path):
    """In float32 no two codes agree to 1e-10 once Adam runs: its first steps are about
    lr * sign(gradient), and a gradient at rounding level flips a whole step. "Within rounding"
    is measured here: fused vs alone differ no more than alone vs alone on the image moved by
    one ulp (every pixel one float32 step towards 0)."""
    cfg = TrainConfig(iters_per_scale=10, lr_g=3e-3, lr_d=3e-3, **CFG)  # learns in 10 iterations
    alone, together = _alone_and_fused(tmp_path, cfg, seeds=[0, 1])
    for i, (a, b) in enumerate(zip(alone, together)):
        image = _image(i)
        nudged = train.train_model(image.nextafter(torch.zeros_like(image)), tmp_path / "ulp" / str(i), cfg, seed=i,
                                   progress=False)
        rounding = _differences(a, nudged)
        assert rounding["weights"] > 0, "the one-ulp change reaches the weights"
        assert _differences(a, b)["weights"] <= 3 * rounding["weights"]
        rec = [m.meta["scales"][-1]["rec_mse"] for m in (a, b, nudged)]
        assert abs(rec[1] - rec[0]) <= 3 * abs(rec[2] - rec[0]) + 0.01 * rec[0], rec
        for entry in b.meta["scales"]:  # the fused models learn to reconstruct their images
            assert entry["rec_mse"] < 0.85 * entry["rec_mse_first_iteration"], entry


def test_an_interrupted_fused_run_resumes_to_the_same_models(tmp_path, monkeypatch):
    cfg = TrainConfig(iters_per_scale=6, **CFG)
    dirs = [tmp_path / "a" / str(i) for i in range(2)]
    whole = fusion.train_fused([train.open_model(_image(i), dirs[i], cfg, seed=i) for i in range(2)], dirs, cfg,
                               progress=False)
    step, calls = fusion.FusedScaleTrainer.step, []

    def dies_at_scale_1(self):
        calls.append(self.scale)
        if self.scale == 1 and calls.count(1) == 3:
            raise KeyboardInterrupt
        return step(self)
    monkeypatch.setattr(fusion.FusedScaleTrainer, "step", dies_at_scale_1)
    again = [tmp_path / "b" / str(i) for i in range(2)]
    with pytest.raises(KeyboardInterrupt):
        fusion.train_fused([train.open_model(_image(i), again[i], cfg, seed=i) for i in range(2)], again, cfg,
                           progress=False)
    assert all(train.model_status(d) == "partial" for d in again)
    monkeypatch.setattr(fusion.FusedScaleTrainer, "step", step)
    resumed = fusion.train_fused([train.open_model(_image(i), again[i], cfg, seed=i) for i in range(2)], again, cfg,
                                 progress=False)
    for a, b in zip(whole, resumed):
        assert max(_differences(a, b).values()) == 0.0


def test_models_of_different_plans_are_refused(tmp_path):
    cfg = TrainConfig(iters_per_scale=2, **CFG)
    opened = [train.open_model(_image(0), tmp_path / "a", cfg, seed=0),
              train.open_model(_image(1, h=60, w=40), tmp_path / "b", cfg, seed=0)]
    with pytest.raises(ValueError, match="2 different scale plans"):
        fusion.train_fused(opened, [tmp_path / "a", tmp_path / "b"], cfg, progress=False)

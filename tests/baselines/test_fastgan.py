"""FastGAN with a mask channel: shapes and range, rebuilding from its config, seeded and batch-independent
sampling that leaves the global random state alone, exact continuation from a state dict, and learning the
toy discs (image statistics and masks that mark the drawn disc)."""
from __future__ import annotations

import copy
import inspect
import json
import warnings

import pytest
import torch
from toy_discs import discs, frechet_stat, mask_agreement

from singanseg_lib.baselines import get
from singanseg_lib.baselines.fastgan import FastGAN

SMALL = {"ngf": 4, "ndf": 4}


def _gan(size: int = 16, seed: int = 0, **kw) -> FastGAN:
    torch.manual_seed(seed)
    return FastGAN(size=size, **(SMALL | kw))


def _steps(gan: FastGAN, reals: torch.Tensor, start: int, n: int, batch: int = 8, total: int = 100) -> list[dict]:
    picks = torch.Generator().manual_seed(start)  # the batches, apart from the global state the GAN draws from
    out = []
    for step in range(start, start + n):
        out.append(gan.train_step(reals[torch.randint(0, len(reals), (batch,), generator=picks)], step, total))
    return out


def _codes(gan: FastGAN, n: int, seed: int = 1) -> torch.Tensor:
    return gan.latent(n, torch.Generator().manual_seed(seed))


def test_the_registry_names_it_and_its_paper_and_deviations_are_stated():
    assert get("fastgan") is FastGAN
    assert "ICLR 2021" in FastGAN.paper and any("LPIPS" in d for d in FastGAN.deviations)
    defaults = {k: v.default for k, v in inspect.signature(FastGAN).parameters.items()}
    assert defaults | {"size": 256} == {"size": 256, "z_dim": 256, "ngf": 64, "ndf": 64, "lr": 2e-4, "betas": (0.5, 0.999),
                                        "augment": "color,translation,cutout", "recon_loss": "l1", "ema_decay": 0.999}


@pytest.mark.parametrize("size", [16, 128])  # 128: the first size with the paper's 8 -> 128 px SLE
def test_samples_are_n_x_4_x_size_in_range_and_a_step_returns_float_losses(size):
    gan = _gan(size)
    x = gan.generate(_codes(gan, 3))
    assert x.shape == (3, 4, size, size) and x.min() >= -1 and x.max() <= 1 and not x.requires_grad
    losses = gan.train_step(discs(4, size, 0), 0, 1)
    assert set(losses) == {"d_real", "d_fake", "d_recon", "g_adv"} and all(type(v) is float for v in losses.values())


@pytest.mark.parametrize("bad, match", [({"size": 8}, "16 to 1024"), ({"size": 48}, "power of two"),
                                        ({"recon_loss": "lpips"}, "not implemented"), ({"augment": "flip"}, "valid"),
                                        ({"ema_decay": 1.0}, "ema_decay")])
def test_bad_settings_fail_when_built(bad, match):
    with pytest.raises(ValueError, match=match):
        FastGAN(**({"size": 16} | bad))


def test_a_step_warns_of_nothing():
    gan = _gan()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. float() of a tensor that requires grad
        _steps(gan, discs(16, 16, 0), 0, 2)
        gan.generate(_codes(gan, 2))


def test_rebuilt_from_its_json_config_and_state_dict_it_samples_the_same():
    gan = _gan(ema_decay=0.99)
    _steps(gan, discs(16, 16, 0), 0, 3)
    config = json.loads(json.dumps(gan.config))
    other = type(gan)(**config)
    other.load_state_dict(gan.state_dict())
    assert other.ema_updates == gan.ema_updates == 3
    z = _codes(gan, 6)
    assert torch.equal(gan.generate(z), other.generate(z))


def test_the_same_seed_gives_the_same_gan_and_samples_and_another_seed_others():
    reals = discs(16, 16, 0)
    a, b, c = _gan(seed=4), _gan(seed=4), _gan(seed=5)
    for gan, seed in ((a, 4), (b, 4), (c, 5)):
        torch.manual_seed(seed + 100)
        _steps(gan, reals, 0, 2)
    z = _codes(a, 4)
    assert torch.equal(a.generate(z), b.generate(z))
    assert not torch.allclose(a.generate(z), c.generate(z))


def test_a_code_names_one_sample_whatever_its_batch_and_sampling_leaves_the_random_state_alone():
    gan = _gan()
    _steps(gan, discs(16, 16, 0), 0, 2)
    z = _codes(gan, 5)
    torch.manual_seed(9)
    before = torch.get_rng_state()
    x = gan.generate(z)
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(x, gan.generate(z))
    assert torch.allclose(x[2:3], gan.generate(z[2:3]), atol=1e-5)  # alone: the same up to rounding
    assert torch.allclose(x, gan.generate(z.flip(0)).flip(0), atol=1e-5)
    assert not torch.allclose(x[0], x[1])


def test_a_fresh_gan_given_the_state_dict_at_step_k_continues_identically():
    reals = discs(16, 16, 0)
    torch.manual_seed(11)
    gan = _gan()
    _steps(gan, reals, 0, 3)
    state = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in gan.state_dict().items()}
    opts = copy.deepcopy({k: o.state_dict() for k, o in gan.optimizers().items()})  # their tensors move on with the GAN
    rng = torch.get_rng_state()
    went_on = _steps(gan, reals, 3, 3)

    fresh = _gan(seed=99)  # other initial weights: everything must come from the state
    fresh.load_state_dict(state)
    for k, o in fresh.optimizers().items():
        o.load_state_dict(opts[k])
    torch.set_rng_state(rng)
    assert _steps(fresh, reals, 3, 3) == went_on
    a, b = gan.state_dict(), fresh.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    assert fresh.ema_updates == gan.ema_updates == 6


def test_a_gan_left_in_eval_mode_trains_as_one_in_train_mode():
    reals = discs(16, 16, 0)
    a, b = _gan(seed=3), _gan(seed=3)
    b.eval()  # as load_gan hands it back
    torch.manual_seed(0)
    la = _steps(a, reals, 0, 2)
    torch.manual_seed(0)
    assert _steps(b, reals, 0, 2) == la


def _learn(size: int, width: int, iters: int, seed: int) -> tuple[float, float, tuple[float, float]]:
    gan = _gan(size, seed, ngf=width, ndf=width)
    reals, held_out = discs(256, size, seed), discs(256, size, 99)
    z = _codes(gan, 256)
    before = frechet_stat(gan.generate(z), held_out)
    _steps(gan, reals, 0, iters, total=iters)
    after = gan.generate(z)
    return before, frechet_stat(after, held_out), mask_agreement(after)


def _assert_learnt(before: float, after: float, agreement: tuple[float, float]) -> None:
    own, chance = agreement
    assert after < 0.5 * before, (before, after)
    assert own > 0.5 and own > chance + 0.2, agreement


def test_it_learns_the_toy_discs_in_a_few_hundred_steps():
    # measured at 16 px, widths 8, batch 8: Frechet stat ~31 -> 1.7-2.4 after 200-240 steps, own IoU 0.63-0.78
    # (chance 0.13-0.19) over seeds 0-3; ~55 ms a step on 2 cores
    _assert_learnt(*_learn(16, 8, 200, seed=1))


@pytest.mark.slow
def test_it_learns_the_toy_discs_at_32_px():
    _assert_learnt(*_learn(32, 8, 600, seed=0))

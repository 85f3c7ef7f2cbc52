import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image

from singanseg_lib.singan import pyramid

REF = FIXTURES / "reference-singan-seg-ms128"


def test_plan_matches_reference_sizes_and_widths():
    """The 622x529 example polyp: sizes the reference code printed (benchmarks/reference_timings.yaml)."""
    plan = pyramid.plan_scales(529, 622)
    assert plan.sizes == ((25, 30), (33, 39), (43, 51), (56, 66), (73, 86), (96, 112), (125, 147),
                          (163, 192), (213, 250))
    assert plan.widths == (32, 32, 32, 32, 64, 64, 64, 64, 128)
    small = pyramid.plan_scales(529, 622, max_size=128)
    reals = torch.load(REF / "reals.pth", weights_only=True, map_location="cpu")
    assert list(small.sizes) == [tuple(r.shape[-2:]) for r in reals]


def test_plan_round_trips_and_rejects_tiny_images():
    plan = pyramid.plan_scales(300, 400, max_size=120)
    assert pyramid.ScalePlan.from_dict(plan.to_dict()) == plan
    assert plan.sizes[-1] == (90, 120) and plan.sizes[0][0] == 25
    with pytest.raises(ValueError, match="smaller than min_size"):
        pyramid.plan_scales(20, 400)


def test_resize_keeps_constants_and_matches_pil_inside():
    x = torch.full((1, 2, 40, 50), 0.3, dtype=torch.float64)
    assert torch.allclose(pyramid.resize(x, 0.5), torch.full((1, 2, 20, 25), 0.3, dtype=torch.float64))
    rng = np.random.default_rng(0)
    img = rng.random((64, 80)).astype(np.float32)
    ours = pyramid.resize(torch.from_numpy(img)[None, None].double(), 0.5)[0, 0].numpy()
    # PIL's bicubic is the same antialiased a=-0.5 kernel; only border handling differs
    pil = np.asarray(Image.fromarray(img, mode="F").resize((40, 32), Image.BICUBIC))
    assert ours.shape == pil.shape
    assert np.abs(ours[3:-3, 3:-3] - pil[3:-3, 3:-3]).max() < 1e-5


def test_pyramid_matches_reference_reals():
    """Levels built from the reference's own input match its reals.pth up to its uint8 rounding."""
    rgba = np.asarray(Image.open(REF / "polyp_with_4_channels.png")).copy()
    image = torch.from_numpy(rgba).permute(2, 0, 1)[None].double() / 127.5 - 1
    plan = pyramid.plan_scales(*rgba.shape[:2], max_size=128)
    ours = pyramid.build_pyramid(image, plan)
    reals = torch.load(REF / "reals.pth", weights_only=True, map_location="cpu")
    for a, b in zip(ours, reals):
        diff = (a.float() - b).abs()
        assert diff[..., 3:-3, 3:-3].max() < 0.02          # two uint8 roundings: < 3 grey levels
        assert diff.mean() < 0.01                           # borders differ a little (see module doc)
        assert a.min() >= -1 and a.max() <= 1


def test_upsample_to_crops_to_next_size_and_clamps():
    plan = pyramid.plan_scales(100, 120, max_size=100)
    x = torch.full((2, 4, *plan.sizes[1]), 1.5)
    up = pyramid.upsample_to(x, plan, 2)
    assert tuple(up.shape) == (2, 4, *plan.sizes[2]) and up.max() == 1

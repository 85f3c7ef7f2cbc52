"""Explorers (viz/explorers.py): moving a control redraws what it should, without a browser."""
import numpy as np
import pytest
from toy_models import make_model

from singanseg_lib import data, viz
from singanseg_lib.sampling import generate


def _moved(box, control, value):
    before, caption = box.shown.copy(), box.caption
    control.value = value
    return not np.array_equal(before, box.shown), caption != box.caption


def test_sample_explorer_redraws_for_each_control_and_shows_the_manifest_sample():
    pyr = make_model()
    big_seed = generate.sample_seed(0, 3)  # a manifest's kind of seed: above 2**53
    assert big_seed > 2**53
    box = viz.sample_explorer({"a": pyr, "b": make_model(seed=1)}, seed=big_seed)
    model, start, seed = box.controls
    assert seed.value == str(big_seed)  # text keeps every digit; a browser's number box would not
    assert start.max == pyr.plan.num_scales
    expected = generate.generate_from_seeds(pyr, [big_seed], start_scale=0)
    shown_alone = viz.plot_sample(expected.images[0], expected.masks[0], title=box.caption)
    assert np.array_equal(viz.explorers._pixels(shown_alone), box.shown)  # the very sample of that seed
    assert _moved(box, start, pyr.plan.num_scales) == (True, True)
    assert _moved(box, start, 0) == (True, True)
    assert _moved(box, seed, str(big_seed + 1)) == (True, True)
    assert _moved(box, model, "b") == (True, True)


def test_a_bad_seed_is_named_and_the_picture_stays():
    box = viz.sample_explorer({"a": make_model()}, seed=5)
    before = box.shown.copy()
    box.controls[2].value = "12x"
    assert "whole number" in box.message and np.array_equal(before, box.shown)
    box.controls[2].value = "6"
    assert box.message == "" and not np.array_equal(before, box.shown)


def test_parse_seed_range():
    assert viz.parse_seed(" 2 ") == 2 and viz.parse_seed(str(2**63 - 1)) == 2**63 - 1
    for bad in ("-1", str(2**63), "1e3", ""):
        with pytest.raises(ValueError, match="whole number"):
            viz.parse_seed(bad)


def test_pair_explorer_browses_the_pairs():
    ds = data.load_dataset(data.resolve_data_dir(""), progress=False)
    box = viz.pair_explorer(ds)
    assert ds[0].id in box.caption
    assert _moved(box, box.controls[0], 5) == (True, True) and ds[5].id in box.caption


def test_prediction_explorer_shows_each_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    masks = rng.random((3, 32, 32)) > 0.5
    box = viz.prediction_explorer(images, masks, {"real": masks, "fake": ~masks})
    assert _moved(box, box.controls[0], 2) == (True, True) and "image 2" in box.caption


def test_scale_explorer_shows_each_scale(tmp_path):
    from singanseg_lib.singan import checkpoint, diagnostics

    make_model(tmp_path / "m")
    model = checkpoint.load_model(tmp_path / "m")
    recs, errors = diagnostics.reconstructions(model), diagnostics.reconstruction_errors(model)
    box = viz.scale_explorer(model.reals, recs, errors)
    last = len(model.reals) - 1
    assert f"scale {last}:" in box.caption and f"{errors[-1]:.4f}" in box.caption
    assert _moved(box, box.controls[0], 0) == (True, True) and f"{errors[0]:.4f}" in box.caption


def test_style_explorer_shows_each_example():
    rng = np.random.default_rng(1)
    img = lambda: rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)  # noqa: E731
    examples = [{"name": f"s{i}", "real": img(), "generated": img(), "styled": {"1:1": img(), "1:1000": img()}}
                for i in range(2)]
    box = viz.style_explorer(examples)
    assert _moved(box, box.controls[0], 1) == (True, True) and box.caption.startswith("s1:")


def test_sifid_explorer_orders_by_sifid_and_switches_sets(tmp_path):
    from PIL import Image

    from singanseg_lib.metrics.sifid import SifidResult
    from singanseg_lib.sampling.manifest import MatchedPair

    rng = np.random.default_rng(2)
    pairs = []
    for i in range(3):
        for kind in ("real", "syn"):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(tmp_path / f"{kind}{i}.png")
        pairs.append(MatchedPair(tmp_path / f"syn{i}.png", tmp_path / f"real{i}.png"))
    res = {"no ST": SifidResult({"syn0.png": 0.5, "syn1.png": 0.1, "syn2.png": 0.9}, {}, 64, "x", True, False),
           "ST 1:1": SifidResult({"syn0.png": 0.2, "syn1.png": 0.3}, {}, 64, "x", True, False)}
    box = viz.sifid_explorer(res, {"no ST": pairs, "ST 1:1": pairs[:2]})
    which, rank = box.controls
    assert "syn1.png, SIFID 0.1" in box.caption  # lowest first
    assert _moved(box, rank, 2) == (True, True) and "syn2.png, SIFID 0.9" in box.caption
    assert _moved(box, which, "ST 1:1") == (True, True) and "syn1.png, SIFID 0.3" in box.caption and rank.max == 1


def test_gan_explorer_shows_the_sample_of_a_manifest_seed(tmp_path):
    from toy_discs import discs

    from singanseg_lib.baselines import samples
    from singanseg_lib.baselines.train import train_gan

    gans = {s: train_gan("dcgan", discs(16, 16, 0), tmp_path / str(s), iters=3, batch_size=4, seed=s,
                         options={"base_channels": 4}, progress=False) for s in (0, 1)}
    big_seed = generate.sample_seed(0, 3)
    box = viz.gan_explorer({"a": gans[0], "b": gans[1]}, seed=big_seed)
    gan, seed = box.controls
    assert seed.value == str(big_seed)
    x = samples.sample(gans[0], [big_seed])[0]
    assert np.array_equal(viz.explorers._pixels(viz.plot_sample(x[:3], x[3] > 0, title=box.caption)), box.shown)
    assert _moved(box, seed, str(big_seed + 1)) == (True, True)
    assert _moved(box, gan, "b") == (True, True)

"""SIFID and FID: the math against pytorch-fid, pairing by name, and the folder-level functions.

Feature networks are randomly initialised (seeded): the statistics code is the same whatever
the weights. Agreement with pytorch-fid is checked on its own ``calculate_frechet_distance``
and, for features, on its own ``get_activations`` with the same (random) network installed
where pytorch-fid loads it from.
"""
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid.fid_score import calculate_frechet_distance
from toy_sets import make_reals, make_set

from singanseg_lib import cli
from singanseg_lib.data.images import read_image
from singanseg_lib.kit.weights import RANDOM_NOTE, random_weights
from singanseg_lib.metrics import (
    FidResult,
    fid_features,
    fid_sets,
    frechet_distance,
    frechet_distance_features,
    gaussian_stats,
    image_for_fid,
    load_inception,
    sifid,
    sifid_folders,
    sifid_pairs,
)
from singanseg_lib.metrics.inception import random_inception
from singanseg_lib.sampling.manifest import images_by_sample, match_pairs

pytestmark = pytest.mark.usefixtures("offline")


@pytest.fixture(scope="module")
def net():
    return load_inception("fid", weights=random_weights("fid_inception"))


def _stats(rng, n, d, shift=0.0):
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + shift
    return gaussian_stats(x)


def _pytorch_fid(*stats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy's sqrtm(disp=...) inside pytorch-fid
        return calculate_frechet_distance(*stats)


@pytest.mark.parametrize("n, d", [(400, 16), (300, 64), (20, 64)])  # the last: fewer samples than dims
def test_frechet_distance_agrees_with_pytorch_fid(n, d):
    rng = np.random.default_rng(d + n)
    a, b = _stats(rng, n, d), _stats(rng, n, d, shift=0.3)
    ours, theirs = frechet_distance(*a, *b), _pytorch_fid(*a, *b)
    assert ours == pytest.approx(theirs, rel=1e-6 if n > d else 1e-4)
    assert frechet_distance(*a, *a) == pytest.approx(0, abs=1e-6 * np.trace(a[1]))


@pytest.mark.parametrize("n1, n2, d", [(30, 20, 64), (12, 12, 200), (300, 250, 16)])
def test_frechet_distance_from_features_is_the_same_quantity(n1, n2, d):
    rng = np.random.default_rng(n1)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x1, x2 = rng.normal(size=(n1, d)) @ mix, rng.normal(size=(n2, d)) @ mix + 0.2
    direct = frechet_distance_features(x1, x2)
    assert direct == pytest.approx(frechet_distance(*gaussian_stats(x1), *gaussian_stats(x2)), rel=1e-7)
    assert direct == pytest.approx(_pytorch_fid(*gaussian_stats(x1), *gaussian_stats(x2)), rel=1e-4)
    assert frechet_distance_features(x1, x1) == pytest.approx(0, abs=1e-9 * direct)


def test_frechet_distance_closed_form():
    # N(0, I) vs N(m, 4I) in d dims: |m|^2 + d + 4d - 2*2d = |m|^2 + d
    d, m = 5, np.arange(5.0)
    assert frechet_distance(np.zeros(d), np.eye(d), m, 4 * np.eye(d)) == pytest.approx(m @ m + d)
    with pytest.raises(ValueError, match="do not match"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


@pytest.fixture
def folders(tmp_path):
    reals = make_reals(tmp_path / "real", n=3, size=(64, 80))
    return tmp_path, reals, make_set(tmp_path / "synthetic", reals, samples=2)


def test_sifid_of_a_set_against_itself_is_zero_and_degraded_is_not(folders, net):
    tmp, reals, syn = folders
    copies = tmp / "copies"
    copies.mkdir()
    for r in reals:
        Image.open(r).save(copies / f"{r.stem}.png")
    same = sifid_folders(tmp / "real", copies, network="fid", allow_random=True, progress=False)
    result = sifid_folders(None, syn, network="fid", allow_random=True, progress=False)
    assert len(result.values) == 6 and result.mean > 0
    assert abs(same.mean) < 1e-6 * result.mean  # same pixels (JPEG decoded, saved as PNG): zero up to rounding
    record = result.as_dict()
    assert record["mean_over"] == "pairs" and record["note"] == RANDOM_NOTE and "'fid'" in record["network"]
    assert set(record["sifid_by_set"]) == {0, 1}
    assert record["sifid_mean"] == pytest.approx(np.mean(list(record["sifid_by_set"].values())))


def test_sifid_192_and_torchvision_network_are_named(folders):
    _, _, syn = folders
    r = sifid_folders(None, syn, network="torchvision", dims=192, allow_random=True, progress=False)
    assert r.dims == 192 and "'torchvision'" in r.network and "2nd max-pool" in r.as_dict()["layer"]


def test_pairing_goes_by_name_not_order(folders, net):
    tmp, reals, syn = folders
    before = sifid_pairs(match_pairs(None, syn), net, progress=False).values
    # the same set written in the opposite order, with its manifest rows reversed
    again = tmp / "reversed"
    again.mkdir()
    lines = (syn / "manifest.csv").read_text().splitlines()
    for name in sorted((p.name for p in syn.iterdir() if p.suffix == ".png"), reverse=True):
        shutil.copy(syn / name, again / name)
    (again / "manifest.csv").write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n")
    assert sifid_pairs(match_pairs(None, again), net, progress=False).values == pytest.approx(before)
    # names whose order differs from their sources' order: "a" comes from real_2, "b" from real_0
    named = tmp / "named"
    named.mkdir()
    Image.open(syn / "real_2_0_img.png").save(named / "a.png")
    Image.open(syn / "real_0_0_img.png").save(named / "b.png")
    Image.open(reals[2]).save(tmp / "real" / "a.png")  # PNG: the same pixels as the decoded JPEG
    Image.open(reals[0]).save(tmp / "real" / "b.png")
    pairs = match_pairs(tmp / "real", named)
    assert [(p.synthetic.name, p.real.name) for p in pairs] == [("a.png", "a.png"), ("b.png", "b.png")]
    values = sifid_pairs(pairs, net, progress=False).values
    assert values["a.png"] == pytest.approx(before["real_2_0_img.png"], rel=1e-9)
    assert values["b.png"] == pytest.approx(before["real_0_0_img.png"], rel=1e-9)


def test_unmatched_and_different_size_pairs_are_errors(folders, net):
    tmp, reals, _ = folders
    odd = tmp / "odd"
    odd.mkdir()
    Image.open(reals[0]).save(odd / f"{reals[0].stem}.png")
    Image.open(reals[1]).save(odd / "stranger.png")
    with pytest.raises(ValueError, match="stranger.png"):
        match_pairs(tmp / "real", odd)
    small = tmp / "small"
    small.mkdir()
    Image.open(reals[0]).resize((40, 32)).save(small / f"{reals[0].stem}.png")
    with pytest.raises(ValueError, match="resize_real"):
        sifid_pairs(match_pairs(tmp / "real", small), net, progress=False)
    resized = sifid_pairs(match_pairs(tmp / "real", small), net, resize_real=True, progress=False)
    assert resized.resized_real and np.isfinite(resized.mean)
    with pytest.raises(ValueError, match="one size"):
        sifid(read_image(reals[0]), read_image(small / f"{reals[0].stem}.png"), net)


def test_clean_resize_is_antialiased(tmp_path):
    # a one-pixel checkerboard shrunk 3.3x: an antialiased filter gives flat grey, plain bilinear aliases
    board = ((np.indices((1000, 1000)).sum(0) % 2) * 255).astype(np.uint8)
    Image.fromarray(np.stack([board] * 3, -1)).save(tmp_path / "board.png")
    clean, legacy = image_for_fid(tmp_path / "board.png"), image_for_fid(tmp_path / "board.png", resize="pytorch-fid")
    assert clean.shape == legacy.shape == (3, 299, 299)
    assert clean.std() < 0.01 < legacy.std()


def test_features_match_pytorch_fids_own_pipeline(folders, net, monkeypatch):
    """In 'pytorch-fid' mode our pool3 features are pytorch-fid's, computed by its own code."""
    from pytorch_fid.fid_score import get_activations
    from pytorch_fid.inception import InceptionV3

    tmp, reals, _ = folders
    hub = tmp / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    state = random_inception("fid").state_dict()  # the same seeded random network as the fixture
    torch.save(state, hub / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp))
    theirs_net = InceptionV3([3]).eval()  # loads our random weights from the hub cache, no network
    theirs = get_activations([str(r) for r in reals], theirs_net, batch_size=1, dims=2048, device="cpu",
                             num_workers=0)
    ours = fid_features(reals, net, resize="pytorch-fid", progress=False)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_fid_of_sets(folders, net, tmp_path):
    tmp, reals, syn = folders
    more = make_reals(tmp / "real2", n=6, size=(64, 80), seed=5)
    cache = tmp_path / "cache"
    sets = {f"sample_{k}": files for k, files in images_by_sample(syn).items()}
    result = fid_sets(tmp / "real2", sets, net=net, cache_dir=cache, progress=False)
    assert isinstance(result, FidResult) and set(result.values) == {"sample_0", "sample_1"}
    assert result.n_real == 6 and result.n_synthetic == {"sample_0": 3, "sample_1": 3}
    assert result.sd == pytest.approx(np.std(list(result.values.values()), ddof=1))
    assert list((cache / "fid_stats").glob("*.npz"))  # the real set's statistics are cached
    again = fid_sets(tmp / "real2", sets, net=net, cache_dir=cache, progress=False)
    assert again.values == pytest.approx(result.values)
    itself = fid_sets(more, [more], net=net, cache_dir=cache, progress=False)
    assert abs(itself.mean) < 1e-6 * result.mean  # a set against itself
    record = result.as_dict()
    assert record["note"] == RANDOM_NOTE and record["resize"].startswith("clean")


def test_cli_fid_and_sifid(folders, capsys, tmp_path):
    tmp, _, syn = folders
    code = cli.main(["fid", str(tmp / "real"), str(syn), "--split-by-sample", "--allow-random-weights",
                     "--cache-dir", str(tmp_path / "c"), "--no-progress", "--json", str(tmp_path / "fid.json")])
    assert code == 0 and '"fid_mean"' in capsys.readouterr().out and (tmp_path / "fid.json").exists()
    code = cli.main(["sifid", "-", str(syn), "--network", "fid", "--allow-random-weights", "--by-set", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and '"sifid_by_set"' in out and "real_0_1_img.png" in out


@pytest.mark.slow
def test_fid_equals_pytorch_fids_own_fid(folders, monkeypatch, tmp_path):
    """End to end: our FID in 'pytorch-fid' resize mode vs pytorch-fid's calculate_fid_given_paths,
    the same (random) weights installed where pytorch-fid loads them. Slow: scipy's sqrtm at 2048-d."""
    from pytorch_fid.fid_score import calculate_fid_given_paths

    tmp, _, syn = folders
    (tmp / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(random_inception("fid").state_dict(), tmp / "hub" / "checkpoints" / "pt_inception-2015-12-05-6726825d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp))
    syn_only = tmp / "syn_images"
    syn_only.mkdir()
    for p in syn.glob("*_img.png"):
        shutil.copy(p, syn_only / p.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = calculate_fid_given_paths([str(tmp / "real"), str(syn_only)], batch_size=1, device="cpu", dims=2048,
                                           num_workers=0)
    ours = fid_sets(tmp / "real", [syn_only], net=load_inception("fid", weights=random_weights("fid_inception")),
                    resize="pytorch-fid", cache_dir=tmp_path / "c", progress=False)
    assert ours.mean == pytest.approx(theirs, rel=1e-3)

"""Gatys style transfer: the losses as the reference defines them, batching, and styled sets.

VGG19 is randomly initialised (seeded; pretrained weights cannot be downloaded here): random
conv features still have Gram matrices that encode colour and texture, which is all these
tests need. Images are tiny (24-48 px) so that everything runs in seconds on one core.
"""
import numpy as np
import pytest
import torch
from PIL import Image
from toy_sets import make_reals, make_set

from singanseg_lib import cli
from singanseg_lib.data.images import read_image
from singanseg_lib.kit.files import OutputExistsError
from singanseg_lib.kit.weights import RANDOM_NOTE, random_weights
from singanseg_lib.sampling.manifest import read_manifest
from singanseg_lib.style import transfer as style

pytestmark = pytest.mark.usefixtures("offline")


@pytest.fixture(scope="module")
def vgg():
    return style.load_vgg19(weights=random_weights("vgg19"))


def _images(n, h, w, colour, seed, spread=0.2):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, h, w, generator=g) * spread + torch.tensor(colour).view(1, 3, 1, 1)).clamp(0, 1)


def test_taps_are_the_reference_layers(vgg):
    assert style.VGG19_TAPS == {"conv1_1": 0, "conv2_1": 5, "conv3_1": 10, "conv4_1": 19, "conv4_2": 21,
                                "conv5_1": 28}
    feats = vgg(torch.randn(1, 3, 32, 32))
    assert {k: v.shape[1] for k, v in feats.items()} == {"conv1_1": 64, "conv2_1": 128, "conv3_1": 256,
                                                          "conv4_1": 512, "conv4_2": 512, "conv5_1": 512}
    assert all((v >= 0).all() for v in feats.values())  # after the ReLU, as the reference's in-place ReLU leaves them
    conv = vgg.layers[28](vgg.layers[:28](torch.ones(1, 3, 32, 32)))
    assert torch.equal(vgg(torch.ones(1, 3, 32, 32))["conv5_1"], conv.clamp(min=0))
    assert RANDOM_NOTE in vgg.label


def test_losses_match_the_reference_formulas(vgg):
    x, y = _images(1, 24, 24, (0.3, 0.4, 0.5), 1), _images(1, 24, 24, (0.6, 0.3, 0.2), 2)
    fx, fy = vgg(x), vgg(y)
    expected = 0
    for name, w in style.STYLE_LAYERS.items():  # the reference: gram over (n*c, h*w), mse / (n*c*h*w)
        n, c, h, wd = fx[name].shape
        gx = fx[name].view(n * c, h * wd) @ fx[name].view(n * c, h * wd).T
        gy = fy[name].view(n * c, h * wd) @ fy[name].view(n * c, h * wd).T
        expected = expected + w * torch.nn.functional.mse_loss(gx, gy) / (n * c * h * wd)
    grams = {k: style.gram(v) for k, v in fy.items()}
    assert torch.allclose(style.style_loss(fx, grams), expected.reshape(1), rtol=1e-5)
    assert torch.allclose(style.content_loss(fx, fy), torch.nn.functional.mse_loss(fx["conv5_1"], fy["conv5_1"]))


def test_batched_equals_one_by_one(vgg):
    content = torch.cat([_images(1, 24, 24, (0.3, 0.4, 0.5), 3), _images(1, 24, 24, (0.5, 0.5, 0.2), 4)])
    styles = torch.cat([_images(1, 24, 24, (0.7, 0.3, 0.2), 5), _images(1, 24, 24, (0.2, 0.2, 0.7), 6)])
    batched, hb = style.transfer_style(content, styles, vgg, steps=6, record_every=2)
    for i in range(2):
        alone, ha = style.transfer_style(content[i:i + 1], styles[i:i + 1], vgg, steps=6, record_every=2)
        assert torch.allclose(batched[i:i + 1], alone, atol=1e-5)
        assert np.allclose(hb.arrays()[2][:, i], ha.arrays()[2][:, 0], rtol=1e-4)
    # the per-image Gram is what makes this hold: the reference's (n*c, h*w) Gram mixes images
    f = vgg(content)["conv1_1"]
    n, c, h, w = f.shape
    mixed = f.reshape(n * c, h * w) @ f.reshape(n * c, h * w).T
    assert mixed[:c, c:].abs().sum() > 0 and style.gram(f).shape == (2, c, c)


def test_style_transfer_moves_towards_the_real_image(vgg):
    content, real = _images(1, 32, 32, (0.45, 0.5, 0.6), 7), _images(1, 32, 32, (0.6, 0.3, 0.25), 8, 0.5)
    out, history = style.transfer_style(content, real, vgg, ratio="1:1000", steps=80, record_every=20)
    _, contents, styles = history.arrays()
    assert styles[0, 0] / styles[-1, 0] > 5  # the style loss falls by a large factor
    before = (content.mean((2, 3)) - real.mean((2, 3))).abs().sum()
    after = (out.mean((2, 3)) - real.mean((2, 3))).abs().sum()
    assert after < 0.5 * before  # per-channel means move most of the way towards the real image
    assert (out.std((2, 3)) - real.std((2, 3))).abs().sum() < (content.std((2, 3)) - real.std((2, 3))).abs().sum()
    assert contents[0, 0] == 0 and contents[-1, 0] > 0  # it starts from the content image
    weak, _ = style.transfer_style(content, real, vgg, ratio="1:1", steps=80)
    assert (weak - content).abs().mean() < (out - content).abs().mean()  # 1:1 changes the image less


@pytest.mark.parametrize("bad", ["1000", "a:b", "-1:5", "0:0"])
def test_bad_ratio_named(bad):
    with pytest.raises(ValueError, match="ratio"):
        style.parse_ratio(bad)


@pytest.fixture
def toy_set(tmp_path):
    reals = make_reals(tmp_path / "real", n=2, size=(40, 48))
    return make_set(tmp_path / "synthetic", reals, samples=2, size=(36, 30), relative_source=True)


def test_style_set_writes_a_resumable_styled_set(toy_set, vgg):
    summary = style.style_set(toy_set, ratio="1:1000", steps=4, batch_size=3, vgg=vgg, progress=False)
    out = toy_set.parent / "synthetic_ST-1_1000"
    assert summary.out_dir == out and summary.written == 4 and summary.skipped == 0
    rows = read_manifest(out)
    header = (out / "manifest.csv").read_text().splitlines()[0]
    assert header.endswith(",polyp_share,st_ratio,st_steps,st_size,st_weights")
    source = {r["image"]: r for r in read_manifest(toy_set)}
    for row in rows:
        assert (out / row["mask"]).read_bytes() == (toy_set / row["mask"]).read_bytes()  # mask bit-identical
        assert read_image(out / row["image"]).shape == read_image(toy_set / row["image"]).shape
        assert not np.array_equal(read_image(out / row["image"]), read_image(toy_set / row["image"]))
        assert row["st_ratio"] == "1:1000" and row["st_steps"] == "4" and RANDOM_NOTE in row["st_weights"]
        assert row["source_path"] == source[row["image"]]["source_path"] and row["seed"] == source[row["image"]]["seed"]
    again = style.style_set(toy_set, ratio="1:1000", steps=4, vgg=vgg, progress=False)
    assert again.written == 0 and again.skipped == 4
    with pytest.raises(OutputExistsError, match="other settings"):
        style.style_set(toy_set, ratio="1:1000", steps=5, vgg=vgg, progress=False)
    with pytest.raises(ValueError, match="already a styled set"):
        style.style_set(out, vgg=vgg, progress=False)


def test_style_set_resumes_after_an_interruption(toy_set, vgg, monkeypatch):
    calls = []
    real_transfer = style.transfer_style

    def dies_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_transfer(*args, **kwargs)

    monkeypatch.setattr(style, "transfer_style", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        style.style_set(toy_set, ratio="1:1", steps=3, batch_size=2, vgg=vgg, progress=False)
    monkeypatch.setattr(style, "transfer_style", real_transfer)
    resumed = style.style_set(toy_set, ratio="1:1", steps=3, batch_size=2, vgg=vgg, progress=False)
    assert (resumed.skipped, resumed.written) == (2, 2)
    assert len(read_manifest(toy_set.parent / "synthetic_ST-1_1")) == 4


def test_working_size_keeps_the_image_size_and_samples_limit(toy_set, vgg):
    summary = style.style_set(toy_set, ratio="1:1000", steps=2, size=24, samples=1, vgg=vgg, progress=False)
    rows = read_manifest(summary.out_dir)
    assert [r["sample"] for r in rows] == [0, 0] and {r["st_size"] for r in rows} == {"24"}
    for row in rows:
        assert Image.open(summary.out_dir / row["image"]).size == (36, 30)
        # only the (smooth) change is upsampled: 2 steps move colours a little and keep the detail
        styled, source = read_image(summary.out_dir / row["image"]), read_image(toy_set / row["image"])
        diff = styled.astype(float) - source
        assert 0 < np.abs(diff).mean() < 3
        assert np.abs(np.diff(diff, axis=1)).mean() < 0.2 * np.abs(np.diff(source.astype(float), axis=1)).mean()
    with pytest.raises(ValueError, match="too small"):
        style.style_set(toy_set, steps=2, size=12, vgg=vgg, progress=False, out_dir=toy_set.parent / "tiny")


def test_cli_style_without_weights_is_a_clear_error(toy_set, capsys, monkeypatch, tmp_path):
    from singanseg_lib.kit import weights
    monkeypatch.setattr(weights, "_open_url", lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(weights.ENV_DIR, raising=False)
    assert cli.main(["style", str(toy_set), "--steps", "2"]) == 1
    err = capsys.readouterr().err
    assert "vgg19-dcbb9e9d.pth" in err and "Traceback" not in err
    assert cli.main(["style", str(toy_set), "--steps", "2", "--size", "24", "--allow-random-weights",
                     "--no-progress"]) == 0
    assert len(read_manifest(toy_set.parent / "synthetic_ST-1_1000")) == 4

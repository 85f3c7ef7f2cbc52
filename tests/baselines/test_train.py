"""The baseline GANs' trainer and sets: exact resume, checked folders, seeded samples in the kit's set format."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from singanseg_lib.baselines import samples
from singanseg_lib.baselines.train import GAN_FILE, STATE_FILE, WEIGHTS_FILE, load_gan, load_reals, train_gan
from singanseg_lib.data import load_dataset
from singanseg_lib.data.images import read_image, read_mask
from singanseg_lib.kit.files import OutputExistsError, read_json
from singanseg_lib.metrics import fid_sets, load_inception
from singanseg_lib.sampling.manifest import images_by_sample, read_manifest
from tests.toy_discs import discs

OPTS = {"base_channels": 8}


def _train(out, **kw):
    args = dict(iters=40, batch_size=8, seed=3, options=OPTS, checkpoint_every=10, progress=False)
    return train_gan("dcgan", discs(32, 16, 0), out, **(args | kw))


def test_a_run_stopped_and_resumed_ends_where_an_unbroken_run_ends(tmp_path):
    whole = _train(tmp_path / "whole")
    part = _train(tmp_path / "part", stop_after=13)  # between checkpoints: the state is written on the way out
    assert not part.complete and (tmp_path / "part" / STATE_FILE).is_file()
    assert read_json(tmp_path / "part" / GAN_FILE)["step"] == 13
    resumed = _train(tmp_path / "part")
    a, b = whole.gan.state_dict(), resumed.gan.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if isinstance(a[k], torch.Tensor))
    assert resumed.meta["losses"] == whole.meta["losses"]
    assert not (tmp_path / "part" / STATE_FILE).exists()  # removed once the weights are committed


def test_training_leaves_the_callers_random_state_alone(tmp_path):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _train(tmp_path / "g", iters=5)
    assert torch.equal(before, torch.get_rng_state())


def test_a_finished_gan_loads_and_samples_the_same_by_seed(tmp_path):
    trained = _train(tmp_path / "g")
    loaded = load_gan(tmp_path / "g")
    assert loaded.meta["deviations"] and loaded.meta["seed"] == 3
    x = samples.sample(loaded, [5, 6, 7])
    assert x.shape == (3, 4, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, samples.sample(trained, [5, 6, 7]))
    assert torch.allclose(x[1:2], samples.sample(loaded, [6]), atol=1e-5)  # not on its batch (up to rounding)
    assert not torch.equal(x[0], x[1])


def test_training_again_returns_the_finished_gan_and_other_settings_do_not_overwrite_it(tmp_path):
    _train(tmp_path / "g")
    stamp = (tmp_path / "g" / WEIGHTS_FILE).stat().st_mtime_ns
    assert _train(tmp_path / "g").complete
    assert (tmp_path / "g" / WEIGHTS_FILE).stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError, match="seed"):
        _train(tmp_path / "g", seed=4)
    assert _train(tmp_path / "g", seed=4, overwrite=True).meta["seed"] == 4


def test_damaged_files_are_named(tmp_path):
    _train(tmp_path / "g", stop_after=5)
    (tmp_path / "g" / STATE_FILE).write_bytes(b"not a state")
    with pytest.raises(ValueError, match=str(tmp_path / "g" / STATE_FILE)):
        _train(tmp_path / "g")
    with pytest.raises(ValueError, match="stopped at step 5"):
        load_gan(tmp_path / "g")
    _train(tmp_path / "h")
    (tmp_path / "h" / WEIGHTS_FILE).write_bytes(b"junk")
    with pytest.raises(ValueError, match="sha256"):
        load_gan(tmp_path / "h")


def test_the_sets_are_synthetic_sets_that_fid_reads(offline):
    tmp_path = offline
    trained = _train(tmp_path / "g")
    out = samples.write_sets(trained, tmp_path / "sets", n_sets=3, n_per_set=4, seed=1, progress=False)
    rows = read_manifest(out)
    assert len(rows) == 12 and {r["sample"] for r in rows} == {0, 1, 2}
    assert all(r["source_image"] == "" and r["start_scale"] is None for r in rows)
    assert len({r["seed"] for r in rows}) == 12
    first = rows[0]
    regenerated = samples.sample(trained, [first["seed"]])
    on_disk = read_image(out / first["image"])
    assert np.abs(on_disk.astype(int) - ((regenerated[0, :3].permute(1, 2, 0) + 1) * 127.5).round().numpy()).max() <= 1
    assert np.array_equal(read_mask(out / first["mask"]), (regenerated[0, 3] > 0).numpy())
    stamp = (out / first["image"]).stat().st_mtime_ns
    samples.write_sets(trained, out, n_sets=3, n_per_set=4, seed=1, progress=False)  # rerun: kept
    assert (out / first["image"]).stat().st_mtime_ns == stamp
    with pytest.raises(OutputExistsError):
        samples.write_sets(trained, out, n_sets=3, n_per_set=4, seed=2, progress=False)
    (out / "manifest.csv").unlink()  # as if killed after writing the files, before listing them
    samples.write_sets(trained, out, n_sets=3, n_per_set=4, seed=1, progress=False)
    assert len(read_manifest(out)) == 12 and (out / first["image"]).stat().st_mtime_ns == stamp
    (out / "manifest.csv").unlink()
    other = _train(tmp_path / "other", seed=9)
    with pytest.raises(OutputExistsError, match="differs"):  # unlisted files of another GAN are not replaced
        samples.write_sets(other, out, n_sets=3, n_per_set=4, seed=1, progress=False)
    samples.write_sets(trained, out, n_sets=3, n_per_set=4, seed=1, progress=False)
    by_set = images_by_sample(out)
    net = load_inception("fid", allow_random=True)
    result = fid_sets(by_set[0], {f"sample_{k}": v for k, v in by_set.items()}, net=net, cache_dir=tmp_path / "cache",
                      batch_size=8, progress=False)
    assert result.values["sample_0"] == pytest.approx(0.0, abs=1e-3) and result.values["sample_1"] > 0


def test_load_reals_stretches_images_and_keeps_masks_binary(repo):
    dataset = load_dataset(repo / "data" / "sample", progress=False)
    reals = load_reals(dataset.subset(dataset.ids[:3]), 32)
    assert reals.shape == (3, 4, 32, 32) and reals.dtype == torch.float32 and reals.min() >= -1 and reals.max() <= 1
    assert set(reals[:, 3].unique().tolist()) <= {-1.0, 1.0} and (reals[:, 3] > 0).any()

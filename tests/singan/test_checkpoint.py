import json

import pytest
import torch

from singanseg_lib.singan import checkpoint, models
from singanseg_lib.singan.pyramid import plan_scales


def _save_model(tmp_path, scales=2):
    torch.manual_seed(0)
    plan = plan_scales(60, 80, max_size=60)
    meta = checkpoint.new_meta(plan, channels=4, seed=3, config={"iters_per_scale": 5})
    gens = []
    for s in range(scales):
        g, d = models.ScaleGenerator(4, (plan.widths[s],) * 4), models.ScaleDiscriminator(4, (plan.widths[s],) * 4)
        models.init_weights(g), models.init_weights(d)
        z = torch.randn(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        meta = checkpoint.save_scale(tmp_path, meta, s, g, noise_amp=0.5 / (s + 1), z_opt=z,
                                     real=torch.rand(1, 4, *plan.sizes[s]) * 2 - 1, discriminator=d,
                                     info={"seconds": 1.0})
        gens.append(g)
    return plan, gens


def test_round_trip_rebuilds_the_same_model(tmp_path):
    plan, gens = _save_model(tmp_path)
    loaded = checkpoint.load_model(tmp_path, with_discriminators=True)
    assert loaded.meta["seed"] == 3 and loaded.pyramid.noise_amps == [0.5, 0.25]
    assert len(loaded.discriminators) == 2 and not loaded.complete
    for a, b in zip(loaded.pyramid.generators, gens):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
    assert not loaded.pyramid.generators[0].training


def test_damaged_scale_file_is_named(tmp_path):
    _save_model(tmp_path)
    f = tmp_path / "scale_01.safetensors"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(checkpoint.CheckpointError, match="scale_01.safetensors: checksum"):
        checkpoint.load_model(tmp_path)
    f.write_bytes(bytes(data[:100]))
    with pytest.raises(checkpoint.CheckpointError, match="scale_01"):
        checkpoint.load_model(tmp_path)


def test_newer_format_or_foreign_json_refused(tmp_path):
    _save_model(tmp_path, scales=1)
    meta = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(checkpoint.CheckpointError, match="version 99 is newer"):
        checkpoint.load_model(tmp_path)
    (tmp_path / "model.json").write_text("{")
    with pytest.raises(ValueError, match="model.json: not valid JSON"):
        checkpoint.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="not a trained model folder"):
        checkpoint.load_model(tmp_path / "nowhere")


def test_unlisted_scale_file_does_not_count(tmp_path):
    """A scale written but not committed in model.json (killed between the two) is ignored."""
    _save_model(tmp_path, scales=1)
    (tmp_path / "scale_01.safetensors").write_bytes(b"partial")
    assert checkpoint.load_model(tmp_path).pyramid.num_trained == 1

"""Shareable exports: no copy of the training image in them, the same samples from start scale 0."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from reference_fakes import FIXTURE
from toy_models import make_model

from singanseg_lib.cli import main
from singanseg_lib.kit.files import OutputExistsError
from singanseg_lib.published.importer import import_reference
from singanseg_lib.published.unpickler import load_pth
from singanseg_lib.sampling.generate import generate_samples
from singanseg_lib.singan import checkpoint, export
from singanseg_lib.singan.models import ShareableModelError
from singanseg_lib.singan.pyramid import build_pyramid
from singanseg_lib.singan.train import to_training_tensor

IMAGE = FIXTURE / "polyp_with_4_channels.png"
CORRELATION_LIMIT = 0.3  # |r| of a random 750-vector with an image plane is ~0.04; a stored copy gives 1


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The reference fixture (trained on IMAGE) imported, and its shareable export."""
    root = tmp_path_factory.mktemp("export")
    full = import_reference(FIXTURE, root / "full", image_path=IMAGE)
    return full, export.export_shareable(full, root / "shared")


def _tensors(model_dir):
    from safetensors.torch import load_file

    return {f"{p.name}:{k}": v for p in sorted(model_dir.glob("*.safetensors")) for k, v in load_file(str(p)).items()}


def _max_correlation(tensors: dict[str, torch.Tensor], reals: list[torch.Tensor]) -> tuple[float, int]:
    """Largest |Pearson r| between any row of any tensor and any channel plane (R, G, B, mask) of the
    real image at any scale, where the tensor's size is a multiple of that scale's h·w; and how many
    rows were compared (so that a test sees it compared something)."""
    best, compared = 0.0, 0
    for t in tensors.values():
        t = t.double().flatten()
        for real in reals:
            h, w = real.shape[-2:]
            if t.numel() % (h * w):
                continue
            rows = t.reshape(-1, h * w)
            planes = real[0].double().reshape(real.shape[1], h * w)
            rows, planes = rows - rows.mean(1, keepdim=True), planes - planes.mean(1, keepdim=True)
            norm = rows.norm(dim=1, keepdim=True) * planes.norm(dim=1)[None]
            r = (rows @ planes.T) / norm.clamp_min(1e-12)
            r = torch.where(norm > 1e-12, r, torch.zeros_like(r))  # a constant row correlates with nothing
            best, compared = max(best, float(r.abs().max())), compared + rows.shape[0]
    return best, compared


def _real_pyramid():
    return load_pth(FIXTURE / "reals.pth")[0]


def test_no_tensor_of_the_export_correlates_with_the_training_image(imported):
    full, shared = imported
    reals = _real_pyramid()
    # the check can fail: the full model stores the real pyramid, which correlates perfectly
    best_full, compared_full = _max_correlation(_tensors(full), reals)
    assert compared_full > 0 and best_full > 0.999
    best, _ = _max_correlation(_tensors(shared), reals)
    assert best < CORRELATION_LIMIT
    keys = {k.split(":")[1] for k in _tensors(shared)}
    assert all(k.startswith("G.") for k in keys), sorted(k for k in keys if not k.startswith("G."))


def test_a_tensor_shaped_like_the_image_would_be_caught(imported):
    """The correlation check on a tampered export: a noisy mask hidden in a generator's shape is found."""
    _, shared = imported
    reals = _real_pyramid()
    tensors = _tensors(shared)
    leak = reals[2][0, 3].flatten() + 0.5 * torch.randn(reals[2][0, 3].numel(), generator=torch.Generator().manual_seed(0))
    tensors["tampered"] = leak
    assert _max_correlation(tensors, reals)[0] > CORRELATION_LIMIT


def test_the_image_bytes_appear_nowhere_in_the_export(imported):
    full, shared = imported
    rgba = np.array(Image.open(IMAGE))
    needles = [rgba[r, :, :3].tobytes() for r in (100, 264, 400)]  # rows of the image file's pixels
    needles += [rgba[264, :, 3].tobytes(), IMAGE.read_bytes()[10_000:10_256]]
    finest = _real_pyramid()[-1][0]
    real_rows = [finest[c, 50].float().numpy().tobytes() for c in range(4)]  # as the model stores them
    blobs = {p.name: p.read_bytes() for p in shared.iterdir()}
    full_blobs = b"".join(p.read_bytes() for p in full.iterdir())
    assert all(r in full_blobs for r in real_rows)  # the needles are found where they are
    for name, blob in blobs.items():
        assert not any(n in blob for n in needles + real_rows), name
    text = (shared / checkpoint.META_FILE).read_text()
    for leaked in (str(FIXTURE), IMAGE.name, "reals.pth", "image_path", "reference_dir"):
        assert leaked not in text, leaked


def test_same_samples_from_start_scale_0(imported):
    full, shared = imported
    a, b = checkpoint.load_model(full), checkpoint.load_model(shared)
    assert b.meta["shareable"] is True and b.pyramid.shareable and not b.reals and not a.pyramid.shareable
    assert b.meta["source"] == {"image_id": a.meta["source"]["image_id"], "kind": a.meta["source"]["kind"]}
    for kwargs in ({}, {"original_size": True, "fuse": False}):
        x, y = generate_samples(a.pyramid, 3, seed=7, **kwargs), generate_samples(b.pyramid, 3, seed=7, **kwargs)
        assert torch.equal(x.images, y.images) and torch.equal(x.masks, y.masks) and x.seeds == y.seeds


def test_export_is_smaller(imported):
    full, shared = imported
    assert export.folder_bytes(shared) < 0.9 * export.folder_bytes(full)


@pytest.mark.parametrize("start_scale", [1, 7])
def test_start_scale_above_0_and_reconstruction_say_why(imported, start_scale):
    pyr = checkpoint.load_model(imported[1]).pyramid
    with pytest.raises(ShareableModelError, match="shareable export.*start_scale=0"):
        generate_samples(pyr, 1, start_scale=start_scale)
    with pytest.raises(ShareableModelError, match="reconstruction noise"):
        pyr.reconstruct()
    with pytest.raises(checkpoint.CheckpointError, match="shareable export.*not resume training"):
        checkpoint.load_model(imported[1], with_discriminators=True)


def test_trained_format_folder_export_and_errors(tmp_path):
    """Models in the training format (with a real pyramid of the polyp), a folder of them, and the refusals."""
    image = to_training_tensor(np.array(Image.open(IMAGE))[..., :3], np.array(Image.open(IMAGE))[..., 3] > 127)
    for name in ("a", "b"):
        pyr = make_model(tmp_path / "models" / name, size=tuple(image.shape[-2:]), image_id=name)
        reals = build_pyramid(image, pyr.plan)
        meta = checkpoint.read_meta(tmp_path / "models" / name)
        meta["scales"] = []
        for s, g in enumerate(pyr.generators):  # the same model, now storing the polyp's pyramid
            meta = checkpoint.save_scale(tmp_path / "models" / name, meta, s, g, noise_amp=pyr.noise_amps[s],
                                         z_opt=pyr.z_opt(s), real=reals[s])
    outs = export.export_shareable_folder(tmp_path / "models", tmp_path / "shared")
    assert [p.name for p in outs] == ["a", "b"]
    meta = json.loads((outs[0] / checkpoint.META_FILE).read_text())
    assert meta["source"] == {"image_id": "a"} and "/data/" not in json.dumps(meta)
    assert _max_correlation(_tensors(tmp_path / "models" / "a"), reals)[0] > 0.999
    assert _max_correlation(_tensors(outs[0]), reals)[0] < CORRELATION_LIMIT
    x = generate_samples(checkpoint.load_model(tmp_path / "models" / "a").pyramid, 2, seed=1)
    y = generate_samples(checkpoint.load_model(outs[0]).pyramid, 2, seed=1)
    assert torch.equal(x.images, y.images) and torch.equal(x.masks, y.masks)
    with pytest.raises(OutputExistsError, match="already holds files"):
        export.export_shareable(tmp_path / "models" / "a", outs[0])
    export.export_shareable(tmp_path / "models" / "a", outs[0], overwrite=True)
    with pytest.raises(ValueError, match="already a shareable export"):
        export.export_shareable(outs[0], tmp_path / "again")
    with pytest.raises(FileNotFoundError, match="no model folders"):
        export.export_shareable_folder(tmp_path / "shared" / "a", tmp_path / "x")
    partial = tmp_path / "partial"
    make_model(partial)
    meta = checkpoint.read_meta(partial)
    meta["scales"] = meta["scales"][:1]
    (partial / checkpoint.META_FILE).write_text(json.dumps(meta))
    with pytest.raises(checkpoint.CheckpointError, match="scales trained; finish its training"):
        export.export_shareable(partial, tmp_path / "p_out")
    assert not (tmp_path / "p_out").exists() and not list(tmp_path.glob(".p_out*"))


def test_cli(imported, tmp_path, capsys):
    full, _ = imported
    assert main(["export", "--shareable", str(full), str(tmp_path / "one")]) == 0
    assert "shareable export" in capsys.readouterr().out
    assert checkpoint.read_meta(tmp_path / "one")["shareable"] is True
    assert main(["export", "--shareable", str(full), str(tmp_path / "one")]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "--shareable", str(tmp_path / "nothing"), str(tmp_path / "o")]) == 1
    with pytest.raises(SystemExit):
        main(["export", str(full), str(tmp_path / "two")])  # --shareable is required

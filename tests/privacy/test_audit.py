"""The audit on controlled models: a generator that returns its training image is linked and
flagged; independent random images are not; the recommendation reads the table."""
import numpy as np
import pytest
import torch
from toy_models import make_model

from singanseg_lib.privacy import audit
from singanseg_lib.sampling.generate import generate_samples


@pytest.fixture(scope="module")
def toy():
    """Two random models whose 'training images' are their own reconstructions (as if perfectly
    trained), among six unrelated real images."""
    pyramids = [make_model(seed=s, image_id=f"m{s}") for s in (0, 1)]
    ids, images, masks = [], [], []
    for i, pyr in enumerate(pyramids):
        rec = generate_samples(pyr, 1, start_scale=pyr.plan.num_scales)
        ids.append(f"m{i}"), images.append((rec.images[0] + 1) / 2), masks.append(rec.masks[0])
    g = torch.Generator().manual_seed(5)
    for j in range(6):
        ids.append(f"other{j}"), images.append(torch.rand(3, 40, 48, generator=g)), masks.append(torch.rand(40, 48, generator=g) > 0.7)
    return pyramids, ids, images, masks


def test_the_reconstruction_is_linked_every_time_and_flagged(toy, offline):
    """``offline``: no weights found, whatever this machine has cached (random features, said so)."""
    from singanseg_lib.metrics import load_inception

    pyramids, ids, images, masks = toy
    net = load_inception("fid", allow_random=True)
    reals = audit.real_set(ids, images, masks, size=16, net=net)
    assert reals.weights and "random" in reals.weights  # which weights the features came from is said
    top = pyramids[0].plan.num_scales
    records = [r for i, p in enumerate(pyramids) for r in
               audit.audit_model(p, f"m{i}", i, reals, samples=2, start_scales=[0, top], net=net)]
    rows = {r["start_scale"]: r for r in audit.summarise(records, reals)}
    worst = rows[top]
    for space in ("pixels", "inception"):
        assert worst[space]["top1"] == 1.0 and worst[space]["auc"] == 1.0 and worst[space]["near_copy"] == 1.0
        assert worst[space]["linked"]
    assert worst["mask_copy"] == 1.0 and worst["mask_iou_median"] == 1.0 and worst["flagged"]
    assert worst["diversity"] == 0.0 and rows[0]["diversity"] > 0.01  # the reconstruction never varies
    assert worst["samples"] == 4 and worst["models"] == 2


def test_independent_random_images_link_at_chance():
    g = torch.Generator().manual_seed(0)
    m = 12
    reals = audit.real_set([f"r{i}" for i in range(m)], list(torch.rand(m, 3, 16, 16, generator=g)),
                           list(torch.rand(m, 16, 16, generator=g) > 0.5), size=16)
    records = []
    for i in range(300):  # a "generator" drawing images that owe nothing to its source
        x = torch.rand(2, 3, 16, 16, generator=g)
        records.append(audit.SampleRecord(f"g{i}", i % m, 0, False, audit.image_features(x, size=16),
                                          (torch.rand(2, 16, 16, generator=g) > 0.5).numpy(), 0.3))
    (row,) = audit.summarise(records, reals)
    px = row["pixels"]
    assert abs(px["top1"] - 1 / m) < 3 * np.sqrt((1 / m) * (1 - 1 / m) / 600) and abs(px["auc"] - 0.5) < 0.03
    assert not px["linked"] and px["near_copy"] == 0.0 and row["mask_copy"] == 0.0 and not row["flagged"]
    assert "inception" not in row


def test_style_transfer_rows_keep_the_masks(toy):
    from singanseg_lib.style.transfer import load_vgg19

    pyramids, ids, images, masks = toy
    reals = audit.real_set(ids, images, masks, size=16)
    vgg = load_vgg19(allow_random=True)
    records = audit.audit_model(pyramids[0], "m0", 0, reals, samples=2, start_scales=[0], vgg=vgg, st_steps=2,
                                st_size=32)
    assert [(r.start_scale, r.styled) for r in records] == [(0, False), (0, True)]
    assert np.array_equal(records[0].masks, records[1].masks)
    assert not np.array_equal(records[0].features["pixels"], records[1].features["pixels"])


def _row(s, top1, styled=False, flagged=False, diversity=0.2):
    px = {"top1": top1, "chance_top1": 0.1, "auc": 0.5 + top1 / 2, "near_copy": 0.0, "linked": flagged}
    return {"start_scale": s, "styled": styled, "pixels": px, "mask_copy": 0.5 if flagged else 0.0,
            "flagged": flagged, "diversity": diversity}


def test_recommendation():
    rows = [_row(0, 0.1), _row(1, 0.12, diversity=0.15), _row(2, 0.8, flagged=True, diversity=0.05),
            _row(0, 0.3, styled=True)]
    text = audit.recommend(rows)
    assert "Share samples from start scale 0" in text and "up to 1 stay unflagged, at 25% less" in text
    assert "From start scale 2 on" in text and "raises linkage" in text and "10% -> 30%" in text
    text = audit.recommend([_row(0, 0.9, flagged=True)])
    assert text.startswith("No start scale passes")
    with pytest.raises(ValueError, match="no unstyled rows"):
        audit.recommend([_row(0, 0.1, styled=True)])


def test_shareable_model_is_audited_at_start_scale_0_only(toy, tmp_path):
    from singanseg_lib.singan import checkpoint, export

    _, ids, images, masks = toy
    make_model(tmp_path / "m", seed=0, image_id="m0")
    shared = checkpoint.load_model(export.export_shareable(tmp_path / "m", tmp_path / "s")).pyramid
    reals = audit.real_set(ids, images, masks, size=16)
    records = audit.audit_model(shared, "m0", 0, reals, samples=2)
    assert [r.start_scale for r in records] == [0]
    with pytest.raises(ValueError, match="at least 2"):
        audit.audit_model(shared, "m0", 0, reals, samples=1)
    with pytest.raises(KeyError, match="not in the real set"):
        reals.index("nope")

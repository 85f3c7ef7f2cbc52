"""UNet++ segmentation: metrics against hand counts, learning, resuming, checkpoints, weights."""
import dataclasses

import numpy as np
import pytest
import torch
from seg_fixtures import make_real_folder

from singanseg_lib.kit import presets
from singanseg_lib.segmentation import pairs as segdata
from singanseg_lib.segmentation import unetpp as segment
from singanseg_lib.segmentation.unetpp import SegmentConfig

TINY = SegmentConfig(encoder="tu-mobilenetv3_small_100", encoder_weights="none", decoder_channels=(16, 16, 8, 8, 8),
                     image_size=32,
                     epochs=12, lr=3e-3, lr_drop_epoch=8, lr_after_drop=1e-3, batch_size=4, augment=False)


def test_metrics_match_hand_counts():
    # image 1: target 4 px, prediction 3 px of which 2 hit -> TP 2, FP 1, FN 2, TN 11
    # image 2: target 2 px, prediction 3 px covering both -> TP 2, FP 1, FN 0, TN 13
    target = torch.zeros(2, 4, 4, dtype=torch.bool)
    target[0, 0, :4] = True
    target[1, 2, 1:3] = True
    probs = torch.zeros(2, 4, 4)
    probs[0, 0, 0] = probs[0, 0, 1] = 0.9   # hits
    probs[0, 3, 3] = 0.6                    # false positive
    probs[0, 0, 2] = 0.4                    # below threshold: a miss
    probs[1, 2, 1:4] = 0.8                  # two hits, one false positive
    tp, fp, fn, tn = 4, 2, 2, 24           # summed over both images (micro)
    m = segment.polyp_metrics(probs, target)
    assert m["iou"] == pytest.approx(tp / (tp + fp + fn))
    assert m["f_score"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert m["accuracy"] == pytest.approx((tp + tn) / 32)
    assert m["recall"] == pytest.approx(tp / (tp + fn))
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    soft = 1 - 2 * (probs * target).sum() / (probs.sum() + target.sum())
    assert m["dice_loss"] == pytest.approx(float(soft), abs=1e-6)


def test_metrics_perfect_and_threshold():
    target = torch.zeros(1, 8, 8, dtype=torch.bool)
    target[0, 2:5, 2:6] = True
    perfect = segment.polyp_metrics(target.float(), target)
    assert all(perfect[k] == pytest.approx(1.0) for k in ("iou", "f_score", "accuracy", "recall", "precision"))
    assert perfect["dice_loss"] == pytest.approx(0.0, abs=1e-6)
    # probabilities of 0.7 count as polyp at threshold 0.5, not at 0.8
    assert segment.polyp_metrics(target * 0.7, target)["iou"] == pytest.approx(1.0)
    assert segment.polyp_metrics(target * 0.7, target, threshold=0.8)["iou"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="N x H x W"):
        segment.polyp_metrics(torch.zeros(8, 8), target[0])


def test_config_paper_defaults_and_presets():
    c = SegmentConfig()
    assert (c.encoder, c.image_size, c.lr, c.lr_drop_epoch, c.lr_after_drop, c.epochs) == \
        ("se_resnext50_32x4d", 128, 1e-4, 50, 1e-5, 300)
    paper = presets.config_from_preset(SegmentConfig, "paper", prefix="seg_")
    assert paper.encoder == "se_resnext50_32x4d" and paper.encoder_weights == "imagenet"
    for name in ("classroom", "smoke"):
        cfg = presets.config_from_preset(SegmentConfig, name, prefix="seg_")
        assert cfg.encoder != "se_resnext50_32x4d" and cfg.encoder_weights in ("auto", "none")
    assert presets.config_from_preset(SegmentConfig, "classroom", prefix="seg_").image_size == 128
    with pytest.raises(ValueError, match="encoder_weights"):
        SegmentConfig(encoder_weights="imagenet21k")


@pytest.fixture(scope="module")
def disc_data(tmp_path_factory):
    root = make_real_folder(tmp_path_factory.mktemp("real"), 12, size=48)
    pairs = segdata.list_real_pairs(root)
    return segdata.load_pairs(pairs[:8], size=32), segdata.load_pairs(pairs[8:], size=32)


def test_training_learns_discs(disc_data, tmp_path):
    train, val = disc_data
    torch.manual_seed(0)
    model, _ = segment.build_model(TINY)
    before = segment.evaluate(model, val, TINY)
    result = segment.train_segmentation(train, val, TINY, seed=0, state_dir=tmp_path, progress=False)
    losses = [h["train_dice_loss"] for h in result.history]
    assert losses[-1] < losses[0] - 0.2, losses
    ious = [h["val_iou"] for h in result.history]
    assert result.metrics["iou"] == max(ious) and result.history[result.best_epoch]["val_iou"] == max(ious)
    assert result.metrics["iou"] > before["iou"] + 0.3 and result.metrics["iou"] > 0.5, (before, result.metrics)
    assert [h["lr"] for h in result.history] == [3e-3] * 8 + [1e-3] * 4
    assert "random init" in result.weights
    assert not (tmp_path / segment.STATE_FILE).exists(), "a finished training leaves no resume state"
    # the best checkpoint rebuilds from its own file and predicts as reported
    model, config, meta = segment.load_segmenter(tmp_path)
    assert meta["epoch"] == result.best_epoch and config.encoder == TINY.encoder
    assert segment.evaluate(model, val, config)["iou"] == pytest.approx(result.metrics["iou"], abs=1e-6)


def test_interrupted_training_resumes_identically(disc_data, tmp_path):
    train, val = disc_data
    cfg = dataclasses.replace(TINY, epochs=4, augment=True)
    whole = segment.train_segmentation(train, val, cfg, seed=3, progress=False)

    def stop(epoch, record):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        segment.train_segmentation(train, val, cfg, seed=3, state_dir=tmp_path, progress=False, save_every_s=1e9,
                                   on_epoch=stop)
    assert (tmp_path / segment.STATE_FILE).exists()
    seen = []
    resumed = segment.train_segmentation(train, val, cfg, seed=3, state_dir=tmp_path, progress=False,
                                         on_epoch=lambda e, r: seen.append(e))
    assert seen == [2, 3], "epochs 0-1 were not redone"
    assert resumed.history == whole.history and resumed.metrics == whole.metrics


def test_channels_last_same_predictions(disc_data):
    _, val = disc_data
    torch.manual_seed(0)
    model, _ = segment.build_model(TINY)
    a = segment.predict(model, val.images, dataclasses.replace(TINY, channels_last=False))
    b = segment.predict(model.to(memory_format=torch.channels_last), val.images, TINY)
    assert torch.allclose(a, b, atol=1e-5)


def test_encoder_weights_lookup(monkeypatch, tmp_path):
    torch.manual_seed(1)
    donor, _ = segment.build_model(TINY)
    path = tmp_path / "mobilenetv3-imagenet.pth"
    # timm's own key names (without smp's "model." prefix), classifier included
    torch.save({**donor.encoder.model.state_dict(), "classifier.weight": torch.zeros(2, 2)}, path)
    monkeypatch.setattr(segment, "find_encoder_weights", lambda encoder: (path, f"{encoder}: {path.name}"))
    model, label = segment.build_model(dataclasses.replace(TINY, encoder_weights="imagenet"))
    assert label.startswith("imagenet") and path.name in label
    assert all(torch.equal(v, donor.encoder.state_dict()[k]) for k, v in model.encoder.state_dict().items())
    torch.save({"conv1.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="not weights of this encoder"):
        segment.build_model(dataclasses.replace(TINY, encoder_weights="imagenet"))

    def missing(encoder):
        raise FileNotFoundError(f"no ImageNet weights for {encoder}")

    monkeypatch.setattr(segment, "find_encoder_weights", missing)
    with pytest.raises(FileNotFoundError, match="mobilenetv3"):
        segment.build_model(dataclasses.replace(TINY, encoder_weights="imagenet"))
    _, label = segment.build_model(dataclasses.replace(TINY, encoder_weights="auto"))
    assert "random init" in label and "not found" in label


def test_small_encoder_starts_from_timms_imagenet_file(offline, monkeypatch):
    """The registry's file for the classroom encoder is timm's whole classifier (conv_head and
    classifier included); found in $SINGANSEG_WEIGHTS_DIR it becomes the UNet++ encoder."""
    import timm
    from safetensors.torch import save_file

    from singanseg_lib.kit.weights import WEIGHTS

    torch.manual_seed(3)
    donor = timm.create_model("mobilenetv3_small_100", pretrained=False).state_dict()
    spec = WEIGHTS["tu-mobilenetv3_small_100"]
    save_file(donor, str(offline / spec.filename))
    monkeypatch.setenv("SINGANSEG_WEIGHTS_DIR", str(offline))

    def same_as_donor(model):
        return all(torch.equal(v, donor[k]) for k, v in model.encoder.model.state_dict().items())

    assert not same_as_donor(segment.build_model(TINY)[0])
    for mode in ("imagenet", "auto"):
        model, label = segment.build_model(dataclasses.replace(TINY, encoder_weights=mode))
        assert label.startswith("imagenet") and spec.filename in label and same_as_donor(model)


def test_augmentation_keeps_mask_aligned():
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    image[4:12, 20:28] = 255
    mask[4:12, 20:28] = 1
    aug = segdata.augmentation(0)
    for _ in range(20):
        out = aug(image=image, mask=mask)
        bright = out["image"].mean(axis=2) > 200
        assert out["mask"].shape == (32, 32)
        # the white square and the mask move together (up to blur at the borders)
        assert (bright & (out["mask"] == 0)).sum() <= 0.25 * max(bright.sum(), 1)


def test_find_encoder_weights_through_the_weights_registry(monkeypatch, tmp_path):
    from safetensors.torch import save_file

    with pytest.raises(FileNotFoundError, match="no ImageNet weights registered for the encoder resnet18"):
        segment.find_encoder_weights("resnet18")
    file = tmp_path / "se_resnext50_32x4d-imagenet.safetensors"
    save_file({"layer0.conv1.weight": torch.zeros(1)}, str(file))
    monkeypatch.setenv("SINGANSEG_WEIGHTS_DIR", str(tmp_path))
    path, label = segment.find_encoder_weights("se_resnext50_32x4d")
    assert path == file and file.name in label

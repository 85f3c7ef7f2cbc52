"""The segmentation experiments: folds, no leakage (and a leaky split caught), caching keys, resuming."""
import dataclasses
import shutil

import pytest
import torch
from seg_fixtures import make_real_folder, make_synthetic_set

from singanseg_lib.segmentation import experiments
from singanseg_lib.segmentation import pairs as segdata
from singanseg_lib.segmentation import results as seg_results
from singanseg_lib.segmentation.experiments import LeakageError, check_no_leakage
from singanseg_lib.segmentation.unetpp import SegmentConfig

TINY = SegmentConfig(encoder="tu-mobilenetv3_small_100", encoder_weights="none", decoder_channels=(16, 16, 8, 8, 8),
                     image_size=32, epochs=2, lr=3e-3, batch_size=4, augment=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """12 real images; 9 of them have models with 5 samples each (no ST) and a 1:1000 twin."""
    root = tmp_path_factory.mktemp("exp")
    real_root = make_real_folder(root / "real", 12, size=40)
    real = segdata.list_real_pairs(real_root)
    modelled = [p.source for p in real[:9]]
    sets = {"none": segdata.read_synthetic_set(make_synthetic_set(root / "synthetic", real_root, modelled, per_image=5)),
            "1_1000": segdata.read_synthetic_set(make_synthetic_set(root / "synthetic_ST-1_1000", real_root, modelled,
                                                                    per_image=5, seed=1, tint=10))}
    return real, modelled, sets, root


def test_series_folds_follow_notebook_00_and_round_trip(tmp_path):
    from singanseg_lib.data.folds import load_folds, make_folds, save_folds

    ids = [f"i{n}" for n in range(10)]
    made = experiments.series_folds(tmp_path, ids, k=3, seed=5)
    assert made.folds == make_folds(ids, 3, seed=5).folds and "made here" in made.source
    assert sorted(i for f in made.folds for i in f) == ids
    saved = make_folds(ids, 3, seed=9)
    save_folds(saved, tmp_path / "00_data" / "folds.json")
    found = experiments.series_folds(tmp_path, ids, k=3, seed=5)
    assert found.folds == saved.folds and found.source == str(tmp_path / "00_data" / "folds.json")
    other = experiments.series_folds(tmp_path, ids[:9], k=3, seed=5)
    assert other.folds == make_folds(ids[:9], 3, seed=5).folds and "other images" in other.source
    # what notebooks 06 and 07 write is what load_folds reads
    save_folds(other, tmp_path / "06" / "folds.json")
    assert load_folds(tmp_path / "06" / "folds.json") == other
    assert experiments.trainable_folds([["a", "b"], ["c"], ["d"]], ["a"]) == [1, 2]


def _folds(real, seed=0):
    return experiments.series_folds("/nonexistent", [p.source for p in real], k=3, seed=seed).folds


def test_experiment1_never_trains_on_validation_images(data):
    real, modelled, sets, _ = data
    folds = _folds(real)
    assert experiments.trainable_folds(folds, modelled) == [0, 1, 2]
    specs = experiments.plan_real_vs_fake(real, folds, sets, fake_ns=(1, 3, 5), config=TINY, seed=0)
    assert len(specs) == 3 * (1 + 3 * 2)
    for spec in specs:
        val_ids = set(folds[spec.fold])
        train_ids = {i for f, ids in enumerate(folds) if f != spec.fold for i in ids} & set(modelled)
        assert {p.source for p in spec.val} == val_ids, "validation is the whole held-out real fold"
        assert {p.source for p in spec.train} == train_ids, "every modelled training image, nothing else"
        assert not {p.source for p in spec.train} & val_ids
        if spec.row == "real":
            assert all(p.kind == "real" for p in spec.train)
        else:
            n = int(spec.row[4])
            assert all(p.kind == "synthetic" and p.sample < n for p in spec.train)
            assert len(spec.train) == n * len(train_ids)
            st_dir = "synthetic_ST-1_1000" if spec.row.endswith("1_1000") else "synthetic"
            assert all(p.image.parent.name == st_dir for p in spec.train)
    assert {s.row for s in specs} == {"real"} | {f"fake{n}_{st}" for n in (1, 3, 5) for st in ("no_st", "st_1_1000")}


def test_leaky_splits_are_caught(data, tmp_path):
    real, modelled, sets, root = data
    folds = _folds(real)
    # 1. overlapping folds: an image in training and validation folds at once
    leaky_folds = [list(folds[0]) + [folds[1][0]], folds[1], folds[2]]
    with pytest.raises(LeakageError, match="overlap"):
        experiments.real_vs_fake_training(real, leaky_folds, 0)
    # 2. a training list that takes every synthetic sample, whatever image its model was trained on
    _, val = experiments.real_vs_fake_training(real, folds, 0)
    with pytest.raises(LeakageError, match="come from validation images"):
        check_no_leakage(sets["none"], val)
    # 3. a validation image copied into a synthetic set under a training image's name
    victim = val[0]
    donor = next(p for p in sets["none"] if p.source not in {v.source for v in val})
    sneaky_dir = tmp_path / "sneaky"
    shutil.copytree(donor.image.parent, sneaky_dir)
    shutil.copy(victim.image, sneaky_dir / donor.image.name)
    sneaky = segdata.read_synthetic_set(sneaky_dir)
    train_ok = [p for p in sneaky if p.source != victim.source and p.source not in {v.source for v in val}]
    with pytest.raises(LeakageError, match="byte-identical"):
        check_no_leakage(train_ok, val)
    # and the honest split passes the same check
    train, val = experiments.real_vs_fake_training(real, folds, 0, sets["none"], fake_n=2)
    check_no_leakage(train, val)


def test_experiment2_plan(data):
    real, modelled, sets, _ = data
    folds = _folds(real)
    pool = [i for i in folds[0] if i in modelled]
    assert len(pool) >= 3, "the fixture's fold 1 has enough modelled images"
    specs = experiments.plan_small_data(real, folds, sets["1_1000"], r_values=(1, 2, 3), per_image=3, config=TINY,
                                        seed=0)
    assert len(specs) == 2 * 3 * 2
    by = {(s.variant, s.row): s for s in specs}
    val_ids = {i for f in folds[1:] for i in f}
    for (variant, row), s in by.items():
        assert {p.source for p in s.val} == val_ids and not {p.source for p in s.train} & val_ids
        assert s.config.augment == (variant == "albumentations")
    real3 = [p.source for p in by[("", "real_3")].train]
    assert real3 == pool[:3] and real3[:2] == [p.source for p in by[("", "real_2")].train], "subsets are nested"
    assert len(by[("", "fake_9")].train) == 9 and {p.source for p in by[("", "fake_9")].train} == set(real3)
    with pytest.raises(ValueError, match=f"only {len(pool)} image"):
        experiments.plan_small_data(real, folds, sets["1_1000"], r_values=(len(pool) + 1,), per_image=3, config=TINY,
                                    seed=0)
    with pytest.raises(ValueError, match="fewer than 6 samples"):
        experiments.real_vs_fake_training(real, folds, 1, sets["1_1000"], fake_n=6)


def test_run_key_follows_config_seed_and_data(data, tmp_path):
    real, modelled, sets, _ = data
    folds = _folds(real)
    spec = experiments.plan_real_vs_fake(real, folds, {}, config=TINY, seed=0)[0]
    key = experiments.run_key(spec)
    assert key == experiments.run_key(dataclasses.replace(spec, row="renamed"))
    assert key != experiments.run_key(dataclasses.replace(spec, seed=1))
    assert key != experiments.run_key(dataclasses.replace(spec, config=dataclasses.replace(TINY, epochs=3)))
    assert key != experiments.run_key(dataclasses.replace(spec, train=spec.train[1:]))
    # same names, other bytes: a regenerated file is another training
    copy = tmp_path / spec.train[0].image.name
    copy.write_bytes(spec.train[0].image.read_bytes() + b"\0")
    moved = dataclasses.replace(spec.train[0], image=copy)
    assert key != experiments.run_key(dataclasses.replace(spec, train=(moved,) + spec.train[1:]))


def test_run_key_names_the_encoder_file_found(data, offline, monkeypatch):
    """With encoder_weights "auto", a run made without ImageNet weights is not reused once they are found."""
    from safetensors.torch import save_file

    from singanseg_lib.kit.weights import WEIGHTS

    real = data[0]
    auto = dataclasses.replace(TINY, encoder_weights="auto")
    spec = experiments.plan_real_vs_fake(real, _folds(real), {}, config=auto, seed=0)[0]
    without = experiments.run_key(spec)
    assert without == experiments.run_key(spec)
    save_file({"w": torch.zeros(1)}, str(offline / WEIGHTS[TINY.encoder].filename))
    monkeypatch.setenv("SINGANSEG_WEIGHTS_DIR", str(offline))
    assert experiments.run_key(spec) != without


def test_interrupted_experiment_resumes_without_retraining(data, tmp_path, monkeypatch):
    real, modelled, sets, _ = data
    folds = _folds(real)
    specs = experiments.plan_real_vs_fake(real, folds, {"none": sets["none"]}, fake_ns=(1,), config=TINY, seed=0)[:4]
    whole = experiments.run_experiment(specs, tmp_path / "whole", progress=False)

    trained = []
    real_train = experiments.train_segmentation
    monkeypatch.setattr(experiments, "train_segmentation", lambda *a, **k: trained.append(1) or real_train(*a, **k))

    def interrupt_after_two(spec, result):
        if len(trained) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        experiments.run_experiment(specs, tmp_path / "store", progress=False, on_run=interrupt_after_two)
    assert len(trained) == 2
    trained.clear()
    again = experiments.run_experiment(specs, tmp_path / "store", progress=False)
    assert len(trained) == 2, "only the two runs not done before were trained"
    assert [r["cached"] for r in again] == [True, True, False, False]
    for a, b in zip(again, whole):
        assert a["key"] == b["key"] and a["metrics"] == b["metrics"] and a["history"] == b["history"]
    trained.clear()
    assert experiments.run_experiment(specs, tmp_path / "store", progress=False) and not trained

    table = seg_results.summarise(again)
    assert set(table) == {"real", "fake1_no_st"}
    real_runs = [r for r in again if r["row"] == "real"]
    assert table["real"]["iou"] == pytest.approx(sum(r["metrics"]["iou"] for r in real_runs) / len(real_runs))
    assert table["real"]["folds"] == [r["fold"] for r in real_runs]

"""Several models side by side: worker processes train exactly what one process would."""
import numpy as np
import pytest
import torch
from conftest import FIXTURES
from PIL import Image
from safetensors.torch import load_file

from singanseg_lib.singan import many as train_many
from singanseg_lib.singan import train

POLYP = FIXTURES / "reference-singan-seg-ms128" / "polyp_with_4_channels.png"
CFG = train.TrainConfig(max_size=30, iters_per_scale=4, device="cpu")


@pytest.fixture
def jobs(tmp_path):
    """Two real image/mask pairs (the polyp and its mirror image) and one whose mask does not fit."""
    rgba = np.array(Image.open(POLYP))
    out = []
    for name, arr in (("a", rgba), ("b", rgba[:, ::-1]), ("bad", rgba)):
        Image.fromarray(np.ascontiguousarray(arr[..., :3])).save(tmp_path / f"{name}.png")
        mask = arr[..., 3] if name != "bad" else arr[:-5, :, 3]
        Image.fromarray(np.ascontiguousarray(mask)).save(tmp_path / f"{name}_mask.png")
        out.append(train_many.TrainJob(name, tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png"))
    return out


def _weights(model_dir):
    return {f.name: load_file(f) for f in sorted(model_dir.glob("scale_*.safetensors"))}


def test_workers_train_what_one_process_trains(jobs, tmp_path):
    good, bad = jobs[:2], jobs[2]
    done = []
    side_by_side = train_many.train_many(good + [bad], tmp_path / "pool", CFG, seed=3, workers=2,
                                         progress=False, on_done=done.append)
    assert [o.status for o in side_by_side] == ["trained", "trained", "failed"]
    assert "bad_mask.png" in side_by_side[2].error and sorted(o.id for o in done) == ["a", "b", "bad"]

    threads = torch.get_num_threads()
    try:  # the workers ran with one thread each; the same here makes the arithmetic identical
        alone = [train_many.train_one(j, tmp_path / "alone" / j.id, CFG, 3, threads=1) for j in good]
    finally:
        torch.set_num_threads(threads)
    assert [o.status for o in alone] == ["trained", "trained"]
    for o, ref in zip(side_by_side, alone):
        a, b = _weights(o.model_dir), _weights(ref.model_dir)
        assert a.keys() == b.keys() and len(a) == 2
        for name in a:
            for key in a[name]:
                assert torch.equal(a[name][key], b[name][key]), (o.id, name, key)
    assert train.read_meta(side_by_side[0].model_dir)["scales"][0]["threads"] == 1

    again = train_many.train_many(good, tmp_path / "pool", CFG, seed=3, workers=2, progress=False)
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_auto_workers():
    assert train_many.auto_workers(train.TrainConfig(device="cuda"), 8) == 1
    assert 1 <= train_many.auto_workers(CFG, 8) <= 8
    assert train_many.auto_workers(CFG, 1) == 1


def test_an_interrupted_pool_stops_and_a_rerun_completes(jobs, tmp_path):
    class Stop(Exception):
        pass

    def stop_after_first(outcome):
        raise Stop(outcome.id)

    good = jobs[:2] + [train_many.TrainJob("c", jobs[0].image_path, jobs[0].mask_path)]
    with pytest.raises(Stop):
        train_many.train_many(good, tmp_path / "pool", CFG, seed=3, workers=2, progress=False,
                              on_done=stop_after_first)
    rerun = train_many.train_many(good, tmp_path / "pool", CFG, seed=3, workers=2, progress=False)
    statuses = [o.status for o in rerun]
    assert statuses.count("skipped") >= 1 and set(statuses) <= {"skipped", "resumed", "trained"}
    assert all(train.model_status(o.model_dir) == "complete" for o in rerun)


def test_fused_groups_by_plan_and_a_bad_pair_fails_alone(jobs, tmp_path):
    rgba = np.array(Image.open(POLYP))
    Image.fromarray(np.ascontiguousarray(rgba[:, :560, :3])).save(tmp_path / "wide.png")  # another plan
    Image.fromarray(np.ascontiguousarray(rgba[:, :560, 3])).save(tmp_path / "wide_mask.png")
    wide = train_many.TrainJob("wide", tmp_path / "wide.png", tmp_path / "wide_mask.png")
    everything = jobs + [wide]
    assert [[j.id for j in g] for g in train_many.fused_groups(everything, CFG, 3)] == [["a", "b", "bad"], ["wide"]]
    outcomes = train_many.train_many(everything, tmp_path / "fused", CFG, seed=3, fuse=3, workers=2, progress=False)
    assert [o.status for o in outcomes] == ["trained", "trained", "failed", "trained"]
    assert "bad_mask.png" in outcomes[2].error
    assert [e["fused_models"] for e in train.read_meta(outcomes[0].model_dir)["scales"]] == [2, 2]
    again = train_many.train_many(everything[:2], tmp_path / "fused", CFG, seed=3, fuse=2, progress=False)
    assert [o.status for o in again] == ["skipped", "skipped"]


def _sized_jobs(tmp_path, sizes):
    """One job per (name, (H, W)): the polyp fixture resized to that size."""
    rgba = Image.open(POLYP)
    out = []
    for name, (h, w) in sizes:
        im = rgba.resize((w, h), Image.BICUBIC)
        im.convert("RGB").save(tmp_path / f"{name}.png")
        Image.fromarray((np.array(im)[..., 3] > 127).astype(np.uint8) * 255).save(tmp_path / f"{name}_mask.png")
        out.append(train_many.TrainJob(name, tmp_path / f"{name}.png", tmp_path / f"{name}_mask.png"))
    return out


def test_snap_aspect_moves_images_into_larger_buckets_within_the_limit(tmp_path):
    cfg = train.TrainConfig(max_size=40, iters_per_scale=3, device="cpu")
    jobs = _sized_jobs(tmp_path, [("a1", (80, 96)), ("a2", (80, 96)), ("near", (80, 98)), ("near2", (78, 96)),
                                  ("wide", (80, 100)), ("square", (80, 80))])
    assert [len(b) for b in train_many.plan_buckets(jobs, cfg)] == [2, 1, 1, 1, 1]
    assert train_many.snap_aspect(jobs, cfg, 0) == jobs

    snapped = {j.id: j for j in train_many.snap_aspect(jobs, cfg, 5)}
    assert snapped["near"].resize_to == snapped["near2"].resize_to == (80, 96)   # 3 % each
    assert snapped["a1"] == jobs[0] and snapped["wide"].resize_to is None       # 6.25 %: too far
    assert snapped["square"].resize_to is None
    assert [len(b) for b in train_many.plan_buckets(list(snapped.values()), cfg)] == [4, 1, 1]
    assert train_many.plan_key(snapped["near"], cfg) == train_many.plan_key(jobs[0], cfg)
    assert [len(b) for b in train_many.plan_buckets(train_many.snap_aspect(jobs, cfg, 20), cfg)] == [6]

    image = train_many.job_image(snapped["near"])
    assert image.shape == (1, 4, 80, 96) and set(image[0, 3].unique().tolist()) == {-1.0, 1.0}
    outcomes = train_many.train_many([jobs[0], snapped["near"]], tmp_path / "models", cfg, seed=1, fuse=2,
                                     workers=1, progress=False)
    assert [o.status for o in outcomes] == ["trained", "trained"]
    meta = train.read_meta(tmp_path / "models" / "near")
    assert meta["source"]["snapped"]["from"] == [80, 98] and meta["source"]["snapped"]["to"] == [80, 96]
    assert "deviation" in meta["source"]["snapped"] and "snapped" not in train.read_meta(tmp_path / "models" / "a1")["source"]
    assert tuple(meta["plan"]["original_size"]) == (80, 96)


def test_cli_snap_aspect_reports_the_buckets(tmp_path, capsys):
    from singanseg_lib.cli import main

    data = tmp_path / "data"
    for sub in ("images", "masks"):
        (data / sub).mkdir(parents=True)
    for job in _sized_jobs(tmp_path, [("a1", (80, 96)), ("a2", (80, 96)), ("near", (80, 98))]):
        job.image_path.rename(data / "images" / f"{job.id}.png")
        job.mask_path.rename(data / "masks" / f"{job.id}.png")
    args = ["train", str(data), "--out", str(tmp_path / "models"), "--no-progress", "--device", "cpu",
            "--set", "max_size", "40", "--set", "iters_per_scale", "2", "--fuse", "4", "--workers", "1"]
    assert main([*args, "--snap-aspect", "5"]) == 0
    out = capsys.readouterr().out
    assert "1 image(s) resized into a larger bucket, 2 -> 1 scale plan(s)" in out and "3 trained" in out
    assert train.read_meta(tmp_path / "models" / "near")["source"]["snapped"]["to"] == [80, 96]
    assert main([*args, "--snap-aspect", "-1"]) == 1
    assert "--snap-aspect must be 0 or more" in capsys.readouterr().err


def test_any_error_fails_its_model_alone_with_its_traceback(jobs, tmp_path):
    broken = train_many.TrainJob("broken", None, None)  # not a data error: a TypeError inside the worker
    outcomes = train_many.train_many([broken, jobs[0]], tmp_path / "pool", CFG, seed=3, workers=2, progress=False)
    assert [o.status for o in outcomes] == ["failed", "trained"]
    assert outcomes[0].error.startswith("TypeError")
    text = (tmp_path / "pool" / "broken" / train_many.FAILED_FILE).read_text()
    assert text.startswith("broken (None, None) failed") and "Traceback" in text
    assert not (tmp_path / "pool" / "a" / train_many.FAILED_FILE).exists()


def test_auto_fuse_follows_the_measurements_per_device(monkeypatch):
    assert train_many.auto_fuse(train.TrainConfig(max_size=48, device="cpu")) == train_many.CPU_FUSE
    assert train_many.auto_fuse(train.TrainConfig(max_size=250, device="cpu")) == 1
    assert train_many.auto_fuse(train.TrainConfig(max_size=250, device="cuda")) == train_many.GPU_FUSE
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert train_many.auto_fuse(train.TrainConfig(max_size=48, device="auto")) == train_many.CPU_FUSE  # "auto" is this machine's device

"""Training on a real local Ray (2 CPUs) and through submitit's real local executor: the same
models as the local backend, a worker killed mid-training retried and resumed, failures alone."""
import os
import shutil
import signal
import threading
import time

import numpy as np
import psutil
import pytest
import torch
from conftest import FIXTURES
from PIL import Image
from safetensors.torch import load_file

from singanseg_lib.kit.backends import RayBackend, SlurmBackend, resolve_backend
from singanseg_lib.kit.files import read_json
from singanseg_lib.singan import many, train

ray = pytest.importorskip("ray")

POLYP = FIXTURES / "reference-singan-seg-ms128" / "polyp_with_4_channels.png"
CFG = train.TrainConfig(max_size=30, iters_per_scale=20, state_every=5, device="cpu")


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, on 2 CPUs; train_many joins it and leaves it running."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _jobs(folder, names=("a", "b", "c", "d")):
    """The polyp in four orientations (four different models of one scale plan)."""
    rgba = np.array(Image.open(POLYP))
    views = {"a": rgba, "b": rgba[:, ::-1], "c": rgba[::-1], "d": rgba[::-1, ::-1]}
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        arr = views[name]
        Image.fromarray(np.ascontiguousarray(arr[..., :3])).save(folder / f"{name}.png")
        Image.fromarray(np.ascontiguousarray(arr[..., 3])).save(folder / f"{name}_mask.png")
        out.append(many.TrainJob(name, folder / f"{name}.png", folder / f"{name}_mask.png"))
    return out


def _weights(model_dir):
    return {f.name: load_file(f) for f in sorted(model_dir.glob("scale_*.safetensors"))}


def _assert_same_models(dir_a, dir_b):
    a, b = _weights(dir_a), _weights(dir_b)
    assert a.keys() == b.keys() and a, (dir_a, sorted(a), sorted(b))
    for name in a:
        assert a[name].keys() == b[name].keys()
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), (dir_a.name, name, key)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The four models trained by the local backend in this process, with one thread as a Ray task has."""
    folder = tmp_path_factory.mktemp("reference")
    threads = torch.get_num_threads()
    try:
        outcomes = [many.train_one(j, folder / "models" / j.id, CFG, 3, threads=1) for j in _jobs(folder / "data")]
    finally:
        torch.set_num_threads(threads)
    assert [o.status for o in outcomes] == ["trained"] * 4
    return folder / "models"


def test_resolve_backend_names_the_choices():
    assert resolve_backend("local") == "local" and resolve_backend("ray") == RayBackend()
    assert resolve_backend(SlurmBackend(partition="gpu")).partition == "gpu"
    with pytest.raises(ValueError, match="local, ray, slurm"):
        resolve_backend("dask")


def test_ray_trains_the_local_backends_models(local_ray, reference, tmp_path):
    jobs = _jobs(tmp_path / "data")
    done = []
    outcomes = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend="ray", progress=False, on_done=done.append)
    assert [o.status for o in outcomes] == ["trained"] * 4 and sorted(o.id for o in done) == ["a", "b", "c", "d"]
    for o in outcomes:
        _assert_same_models(o.model_dir, reference / o.id)
    assert train.read_meta(outcomes[0].model_dir)["scales"][0]["threads"] == 1
    again = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend="ray", progress=False)
    assert [o.status for o in again] == ["skipped"] * 4


def _kill_a_training_worker(models_dir, killed: list, stop: threading.Event) -> None:
    """SIGKILL a Ray worker process running a training task (its title is ``ray::<function>``) once a
    model has a finished scale."""
    while not stop.is_set() and not killed:
        if list(models_dir.glob("*/scale_00.safetensors")):
            for p in psutil.Process().children(recursive=True):  # this test's Ray only
                try:
                    title = (p.cmdline() or [""])[0]
                except psutil.Error:  # gone meanwhile
                    continue
                if title == "ray::_ray_unit":
                    os.kill(p.pid, signal.SIGKILL)
                    killed.append(p.pid)
                    return
        time.sleep(0.002)


@pytest.mark.timeout(300)
def test_a_killed_worker_is_retried_and_its_model_equals_an_undisturbed_one(local_ray, reference, tmp_path):
    killed, stop = [], threading.Event()
    watcher = threading.Thread(target=_kill_a_training_worker, args=(tmp_path / "models", killed, stop), daemon=True)
    watcher.start()
    try:
        outcomes = many.train_many(_jobs(tmp_path / "data"), tmp_path / "models", CFG, seed=3,
                                   backend=RayBackend(max_retries=2), progress=False)
    finally:
        stop.set()
        watcher.join()
    assert killed, "no training worker was found to kill"
    statuses = [o.status for o in outcomes]
    assert "resumed" in statuses and set(statuses) <= {"trained", "resumed"}, statuses  # the retry found its scales
    for o in outcomes:
        _assert_same_models(o.model_dir, reference / o.id)


def test_a_corrupt_image_fails_alone_named_with_its_traceback(local_ray, reference, tmp_path):
    jobs = _jobs(tmp_path / "data", ("a", "b", "c"))
    jobs[1].image_path.write_bytes(b"not a png at all")
    outcomes = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend="ray", progress=False)
    assert [o.status for o in outcomes] == ["trained", "failed", "trained"]
    assert "b.png" in outcomes[1].error
    failed = (tmp_path / "models" / "b" / many.FAILED_FILE).read_text()
    assert "Traceback" in failed and "b.png" in failed
    for o in (outcomes[0], outcomes[2]):
        _assert_same_models(o.model_dir, reference / o.id)
    Image.open(POLYP).convert("RGB").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(jobs[1].image_path)
    rerun = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend="ray", progress=False)
    assert [o.status for o in rerun] == ["skipped", "trained", "skipped"]
    assert not (tmp_path / "models" / "b" / many.FAILED_FILE).exists()  # cleared by the success
    _assert_same_models(rerun[1].model_dir, reference / "b")


@pytest.mark.timeout(300)
def test_slurm_path_through_submitits_local_executor(reference, tmp_path):
    pytest.importorskip("submitit")
    jobs = _jobs(tmp_path / "data", ("a", "b"))
    backend = SlurmBackend(executor="local", time_min=10)
    outcomes = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend=backend, progress=False)
    assert [o.status for o in outcomes] == ["trained", "trained"]
    for o in outcomes:
        _assert_same_models(o.model_dir, reference / o.id)
        log = read_json(o.model_dir / "slurm.json")
        assert f"training {o.id}" in open(log["stdout"]).read()
    again = many.train_many(jobs, tmp_path / "models", CFG, seed=3, backend=backend, progress=False)
    assert [o.status for o in again] == ["skipped", "skipped"]


def test_cli_on_ray_names_the_failed_model_and_how_to_rerun_it(local_ray, reference, tmp_path, capsys):
    from singanseg_lib.cli import main

    for job in _jobs(tmp_path / "flat", ("a", "b")):
        for sub, src in (("images", job.image_path), ("masks", job.mask_path)):
            (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
            (tmp_path / "data" / sub / f"{job.id}.png").write_bytes(src.read_bytes())
    shutil.copytree(reference / "a", tmp_path / "models" / "b")  # b's folder holds another image's model
    args = ["train", str(tmp_path / "data"), "--out", str(tmp_path / "models"), "--no-progress", "--device", "cpu",
            "--set", "max_size", "30", "--set", "iters_per_scale", "20", "--set", "state_every", "5", "--seed", "3",
            "--fuse", "1", "--backend", "ray"]
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert "1 trained, 1 failed" in out, err
    assert "trained differently" in out and "--only b" in err and "failed.txt" in err
    shutil.rmtree(tmp_path / "models" / "b")
    assert main(args + ["--only", "b"]) == 0
    assert "1 trained" in capsys.readouterr().out
    for model in ("a", "b"):
        _assert_same_models(tmp_path / "models" / model, reference / model)

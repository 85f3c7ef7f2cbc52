"""Faults tried on purpose (issue 19, part 3): each case named, each checking what the user sees.

- a full disk while writing a checkpoint, a sample or metrics.json: the previous file stays
  intact and the error says what happened (simulated: ENOSPC where a real disk reports it);
- a damaged checkpoint, model.json or manifest.csv: an error naming the file, and the command
  line prints it in one line, no traceback (unless ``--debug``);
- a generation, style transfer or UNet++ run killed: the rerun completes, nothing is duplicated,
  the result equals an undisturbed run's. A kill is simulated in-process: from the moment of the
  kill nothing more reaches the disk (every later rename fails, so no ``finally`` can save more);
- two runs writing one folder at once: the second refuses, naming the lock;
- bad presets and parameters: refused before anything runs, naming the key, file or choices.

CONTRIBUTING.md's table "Bad input and faults" lists these with the other tests of bad input.
"""
import errno
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from PIL import Image
from seg_fixtures import make_real_folder
from toy_models import make_model
from toy_sets import make_reals, make_set

from singanseg_lib import cli
from singanseg_lib.kit import files, runner
from singanseg_lib.kit.lock import LOCK_FILE, FolderLockedError, folder_lock
from singanseg_lib.kit.outputs import start_notebook
from singanseg_lib.kit.weights import random_weights
from singanseg_lib.sampling.manifest import MANIFEST, read_manifest
from singanseg_lib.sampling.synthetic import export_models
from singanseg_lib.segmentation import pairs as segdata
from singanseg_lib.segmentation import unetpp
from singanseg_lib.singan import checkpoint
from singanseg_lib.style import transfer as style


def _disk_full(monkeypatch):
    """Every fsync reports ENOSPC, as a full disk does (with delayed allocation it shows only there)."""
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", fsync)


_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}  # a child process imports this kit


class Killed(BaseException):
    """The simulated SIGKILL: not an Exception, so nothing in the kit catches it."""


def _kill_at(monkeypatch, n: int) -> list:
    """Let ``n`` atomic renames through, then 'kill': this and every later rename fails."""
    renames = []
    real = os.replace

    def replace(src, dst):
        renames.append(dst)
        if len(renames) > n:
            raise Killed(f"killed before writing {dst}")
        return real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    return renames


def _seg_data(tmp_path, n_train: int, n_val: int):
    pairs = segdata.list_real_pairs(make_real_folder(tmp_path / "real", n_train + n_val, size=32))
    return segdata.load_pairs(pairs[:n_train], size=32), segdata.load_pairs(pairs[n_train:], size=32)


def _tree(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli_error(capsys, argv) -> str:
    """Run the CLI expecting exit 1; return its stderr, checked to be one clear line without a traceback."""
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1, err
    return err


# --- a full disk -----------------------------------------------------------------------------------
def test_disk_full_while_writing_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    make_model(tmp_path / "m")
    meta = checkpoint.read_meta(tmp_path / "m")
    before = _tree(tmp_path / "m")
    loaded = checkpoint.load_model(tmp_path / "m")
    _disk_full(monkeypatch)
    with pytest.raises(files.DiskFullError, match=r"scale_00\.safetensors: disk full while writing it .*previous "
                                                  "file is unchanged.*Free some space and rerun"):
        checkpoint.save_scale(tmp_path / "m", {**meta, "scales": []}, 0, loaded.pyramid.generators[0], noise_amp=2.0,
                              z_opt=torch.zeros(1, 4, *loaded.pyramid.plan.sizes[0]), real=loaded.reals[0])
    assert _tree(tmp_path / "m") == before, "the old checkpoint and model.json are intact, no temporary left"


def test_disk_full_while_writing_a_sample_keeps_the_set(tmp_path, monkeypatch, capsys):
    make_model(tmp_path / "models" / "a", image_id="a")
    export_models(tmp_path / "models", tmp_path / "set", n_per_model=2, progress=False)
    before = _tree(tmp_path / "set")
    _disk_full(monkeypatch)
    err = _cli_error(capsys, ["generate", str(tmp_path / "models"), "--out", str(tmp_path / "set"), "--n", "4",
                              "--no-progress", "--device", "cpu"])
    assert "a_2_img.png: disk full while writing it" in err and "nothing was written" in err
    assert _tree(tmp_path / "set") == before and len(read_manifest(tmp_path / "set")) == 2


def test_disk_full_while_writing_metrics_json_keeps_the_previous_one(tmp_path, monkeypatch):
    run = start_notebook("99_faults", run_dir=tmp_path, seed=0, verbose=False)
    path = run.save_metrics({"score": 1})
    before = path.read_bytes()
    _disk_full(monkeypatch)
    with pytest.raises(files.DiskFullError, match=r"metrics\.json: disk full .*previous file is unchanged"):
        run.save_metrics({"score": 2})
    assert path.read_bytes() == before and sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]


def test_other_write_errors_are_not_called_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(OSError, match="I/O error") as err:
        files.atomic_write_text(tmp_path / "x.txt", "x")
    assert not isinstance(err.value, files.DiskFullError) and not (tmp_path / "x.txt").exists()


# --- damaged files ---------------------------------------------------------------------------------
@pytest.fixture
def model_dir(tmp_path):
    make_model(tmp_path / "models" / "a", image_id="a")
    return tmp_path / "models" / "a"


@pytest.mark.parametrize("damage,match", [
    ("truncate", r"scale_01\.safetensors: checksum differs from model\.json"),
    ("garbage", r"scale_01\.safetensors: checksum differs from model\.json"),
    ("remove", r"scale_01\.safetensors: listed in model\.json but missing"),
])
def test_a_corrupt_or_truncated_checkpoint_is_named(model_dir, capsys, damage, match):
    scale = model_dir / "scale_01.safetensors"
    data = scale.read_bytes()
    if damage == "remove":
        scale.unlink()
    else:
        scale.write_bytes(data[:len(data) // 2] if damage == "truncate" else os.urandom(len(data)))
    with pytest.raises(checkpoint.CheckpointError, match=match):
        checkpoint.load_model(model_dir)
    err = _cli_error(capsys, ["generate", str(model_dir), "--out", str(model_dir.parent / "set"), "--no-progress"])
    assert "scale_01.safetensors" in err


def test_a_checkpoint_with_a_matching_checksum_but_no_tensors_is_named(model_dir):
    """A file replaced together with its checksum (by hand, or by another tool) is still read safely."""
    scale = model_dir / "scale_01.safetensors"
    scale.write_bytes(b"not a safetensors file")
    meta = checkpoint.read_meta(model_dir)
    meta["scales"][1]["sha256"] = files.sha256_file(scale)
    files.atomic_write_json(model_dir / "model.json", meta)
    with pytest.raises(checkpoint.CheckpointError, match=r"scale_01\.safetensors: not a readable safetensors file"):
        checkpoint.load_model(model_dir)


@pytest.mark.parametrize("damage,match", [
    ("truncate", r"model\.json: not valid JSON"),
    ("no plan", r"model\.json: damaged or incomplete \(missing or malformed entry: KeyError: 'plan'\)"),
    ("scales not a list", r"model\.json: damaged or incomplete"),
    ("other format", r"model\.json: not a singanseg-kit model"),
    ("newer version", r"model\.json: checkpoint format version 99 is newer"),
])
def test_a_corrupt_model_json_is_named(model_dir, capsys, damage, match):
    path = model_dir / "model.json"
    meta = checkpoint.read_meta(model_dir)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    else:
        changed = {"no plan": {k: v for k, v in meta.items() if k != "plan"}, "scales not a list": {**meta, "scales": 3},
                   "other format": {**meta, "format": "x"}, "newer version": {**meta, "format_version": 99}}[damage]
        files.atomic_write_json(path, changed)
    with pytest.raises(ValueError, match=match):
        checkpoint.load_model(model_dir)
    argv = ["generate", str(model_dir), "--out", str(model_dir.parent / "set"), "--no-progress"]
    assert "model.json" in _cli_error(capsys, argv)
    with pytest.raises(ValueError, match=match):  # the traceback, with --debug
        cli.main(["--debug", *argv])


@pytest.fixture(scope="module")
def vgg():
    return style.load_vgg19(weights=random_weights("vgg19"))


@pytest.fixture
def toy_set(tmp_path):
    return make_set(tmp_path / "synthetic", make_reals(tmp_path / "real", n=2, size=(24, 32)), samples=2)


@pytest.mark.parametrize("damage,match", [
    ("truncate", r"manifest\.csv:\d+: bad value .*damaged or was cut short"),
    ("binary", r"manifest\.csv: not a readable CSV file"),
    ("header", r"manifest\.csv: not a synthetic-set manifest; its columns must start with image,mask"),
    ("bad number", r"manifest\.csv:2: bad value"),
])
def test_a_corrupt_manifest_csv_is_named(toy_set, capsys, damage, match):
    path = toy_set / MANIFEST
    text = path.read_text()
    path.write_bytes({"truncate": text[:len(text) - 30].encode(), "binary": b"\xff\xfe\x00\x81" * 50,
                      "header": b"name,file\nx,y\n",
                      "bad number": text.replace(",0,", ",zero,", 1).encode()}[damage])
    with pytest.raises(ValueError, match=match):
        read_manifest(toy_set)
    err = _cli_error(capsys, ["style", str(toy_set), "--steps", "1", "--no-progress", "--allow-random-weights"])
    assert "manifest.csv" in err


def test_a_damaged_unetpp_resume_state_is_named(tmp_path):
    train, val = _seg_data(tmp_path, 2, 2)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / unetpp.STATE_FILE).write_bytes(b"PK\x03\x04 cut short")
    cfg = unetpp.SegmentConfig(encoder="tu-mobilenetv3_small_100", encoder_weights="none",
                               decoder_channels=(8, 8, 8, 8, 8), image_size=32, epochs=1, batch_size=2)
    with pytest.raises(ValueError, match=rf"{unetpp.STATE_FILE}: damaged resume state .*delete it"):
        unetpp.train_segmentation(train, val, cfg, seed=0, state_dir=tmp_path / "run", progress=False)


# --- killed runs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kill_after", [1, 7])  # in the first model's samples; after its manifest
def test_a_killed_generation_reruns_to_the_same_set(tmp_path, monkeypatch, kill_after):
    for image_id in ("a", "b"):
        make_model(tmp_path / "models" / image_id, image_id=image_id, seed=ord(image_id))
    export_models(tmp_path / "models", tmp_path / "whole", n_per_model=3, progress=False)
    _kill_at(monkeypatch, kill_after)
    with pytest.raises(Killed):
        export_models(tmp_path / "models", tmp_path / "set", n_per_model=3, progress=False)
    monkeypatch.undo()
    (tmp_path / "set" / ".a_0_img.png.abc.partial.png").write_bytes(b"left by the kill")  # as a SIGKILL leaves
    summary = export_models(tmp_path / "models", tmp_path / "set", n_per_model=3, progress=False)
    assert summary.written + summary.skipped == 6
    rows = read_manifest(tmp_path / "set")
    assert sorted(r["image"] for r in rows) == sorted({r["image"] for r in rows}) and len(rows) == 6
    again = {k: v for k, v in _tree(tmp_path / "set").items() if not k.startswith(".")}
    assert again == _tree(tmp_path / "whole"), "the rerun's set equals an undisturbed one, manifest included"


@pytest.mark.slow  # about 10 s: three style transfers with VGG19
def test_a_killed_style_transfer_reruns_to_the_same_set(toy_set, vgg, monkeypatch):
    """Killed inside the first batch: one image and its mask written, the next not, none listed."""
    kill_after = 3
    kw = dict(ratio="1:1", steps=1, batch_size=2, vgg=vgg, progress=False)
    style.style_set(toy_set, out_dir=toy_set.parent / "whole", **kw)
    _kill_at(monkeypatch, kill_after)
    with pytest.raises(Killed):
        style.style_set(toy_set, **kw)
    monkeypatch.undo()
    out = style.styled_set_dir(toy_set, "1:1")
    assert not (out / LOCK_FILE).exists(), "a killed run leaves no lock that would block the rerun"
    summary = style.style_set(toy_set, **kw)
    assert summary.skipped + summary.written == 4
    rows = read_manifest(out)
    assert len(rows) == 4 and len({r["image"] for r in rows}) == 4
    assert _tree(out) == _tree(toy_set.parent / "whole")


@pytest.mark.slow  # about 10 s: three short UNet++ trainings
def test_a_killed_unetpp_run_reruns_to_the_same_result(tmp_path, monkeypatch):
    train, val = _seg_data(tmp_path, 3, 2)
    cfg = unetpp.SegmentConfig(encoder="tu-mobilenetv3_small_100", encoder_weights="none",
                               decoder_channels=(8, 8, 8, 8, 8), image_size=32, epochs=3, lr=3e-3, batch_size=2)
    whole = unetpp.train_segmentation(train, val, cfg, seed=1, progress=False)
    renames = _kill_at(monkeypatch, 2)  # best checkpoints and per-epoch states: killed in epoch 1 or 2
    with pytest.raises(Killed):
        unetpp.train_segmentation(train, val, cfg, seed=1, state_dir=tmp_path / "run", progress=False, save_every_s=0)
    monkeypatch.undo()
    assert len(renames) > 2
    seen = []
    resumed = unetpp.train_segmentation(train, val, cfg, seed=1, state_dir=tmp_path / "run", progress=False,
                                        on_epoch=lambda e, r: seen.append(e))
    assert seen and seen[0] > 0, "finished epochs are not redone"
    assert [h["epoch"] for h in resumed.history] == [0, 1, 2], "no epoch twice in the history"
    assert resumed.history == whole.history and resumed.metrics == whole.metrics


# --- two writers -----------------------------------------------------------------------------------
def test_a_second_writer_of_a_folder_is_refused_naming_the_lock(tmp_path):
    with folder_lock(tmp_path / "out", "training SinGAN-Seg models") as lock:
        assert lock == tmp_path / "out" / LOCK_FILE and lock.exists()
        with pytest.raises(FolderLockedError, match=rf"out is being written by pid {os.getpid()} on .* \(training "
                                                    rf"SinGAN-Seg models\): lock {lock}"):
            with folder_lock(tmp_path / "out"):
                pass
    assert not lock.exists(), "released and removed"
    with folder_lock(tmp_path / "out"):  # and free again
        pass


def test_a_lock_held_by_another_process_refuses_every_writer(tmp_path, capsys):
    """Another process holds the run's folders: train --out, generate --out, style, run refuse it."""
    folders = {name: tmp_path / name for name in ("models", "set", "synthetic_ST-1_1000", "runs")}
    for folder in folders.values():
        folder.mkdir()
    make_model(tmp_path / "m", image_id="m")
    toy = make_set(tmp_path / "synthetic", make_reals(tmp_path / "real", n=1, size=(24, 32)), samples=1)
    holder = textwrap.dedent(f"""
        import sys, time
        from singanseg_lib.kit.lock import folder_lock
        with folder_lock({str(folders['models'])!r}, "w1"), folder_lock({str(folders['set'])!r}, "w2"), \\
             folder_lock({str(folders['synthetic_ST-1_1000'])!r}, "w3"), folder_lock({str(folders['runs'])!r}, "w4"):
            print("held", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=_ENV)
    try:
        assert proc.stdout.readline().strip() == "held"
        image = tmp_path / "img.png"
        Image.new("RGB", (40, 30)).save(image)
        Image.new("L", (40, 30)).save(tmp_path / "mask.png")
        for argv, folder in [
            (["train", str(image), "--mask", str(tmp_path / "mask.png"), "--out", str(folders["models"]),
              "--preset", "smoke", "--device", "cpu", "--no-progress"], "models"),
            (["generate", str(tmp_path / "m"), "--out", str(folders["set"]), "--no-progress"], "set"),
            (["style", str(toy), "--steps", "1", "--no-progress", "--allow-random-weights"], "synthetic_ST-1_1000"),
            (["run", "--preset", "smoke", "--run-dir", str(folders["runs"]), "--only", "00", "--no-progress"], "runs"),
        ]:
            err = _cli_error(capsys, argv)
            assert f"is being written by pid {proc.pid}" in err and f"lock {folders[folder] / LOCK_FILE}" in err, err
    finally:
        proc.communicate("\n", timeout=30)
    assert not any((f / LOCK_FILE).exists() for f in folders.values())


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = f"from singanseg_lib.kit.lock import folder_lock\nimport os, signal\n" \
             f"with folder_lock({str(tmp_path)!r}):\n    os.kill(os.getpid(), signal.SIGKILL)\n"
    assert subprocess.run([sys.executable, "-c", holder], env=_ENV).returncode == -9
    assert (tmp_path / LOCK_FILE).exists(), "the file stays (no finally runs) ..."
    with folder_lock(tmp_path):  # ... but the kernel released its lock with the process
        pass


def test_a_filesystem_without_locks_is_written_unguarded_with_a_warning(tmp_path, monkeypatch):
    from singanseg_lib.kit import lock

    monkeypatch.setattr(lock.fcntl, "flock", lambda fd, op: (_ for _ in ()).throw(OSError(errno.ENOLCK, "No locks")))
    with pytest.warns(RuntimeWarning, match="this filesystem has no file locks"):
        with folder_lock(tmp_path) as path:
            assert path.exists()
    assert not path.exists()


# --- bad presets and parameters --------------------------------------------------------------------
def test_a_preset_key_no_notebook_declares_is_refused_naming_it(tmp_path):
    preset = tmp_path / "mine.yaml"
    preset.write_text("max_size: 40\niter_per_scale: 10\nn_sample: 2\n")
    with pytest.raises(KeyError, match=r"mine\.yaml: iter_per_scale, n_sample is not a parameter of any notebook; "
                                       r"the notebooks take: .*iters_per_scale"):
        runner.plan_run(preset, only=["01"], run_dir=tmp_path / "runs")


@pytest.mark.parametrize("text,match", [
    ("max_size: [40\n", r"mine\.yaml: not valid YAML"),
    ("- max_size\n", r"mine\.yaml: expected a mapping of parameter: value, got list"),
    ("training:\n  max_size: 40\n", r"mine\.yaml: training is a mapping; presets are flat"),
    ("max_size: big\n", r"01_training\.ipynb: parameter max_size is int, got 'big'"),
])
def test_a_malformed_preset_is_refused_naming_the_file(tmp_path, text, match):
    preset = tmp_path / "mine.yaml"
    preset.write_text(text)
    with pytest.raises((ValueError, TypeError), match=match):
        runner.plan_run(preset, only=["01"], run_dir=tmp_path / "runs")


@pytest.mark.parametrize("argv,match", [
    (["-p", "max_sise", "40"], "no selected notebook has parameter(s) max_sise"),
    (["-p", "max_size", "forty"], "parameter max_size is int"),
    (["-p", "interactive", "maybe"], "true/false/on/off/yes/no"),
    (["-p", "run_dir", "x"], "-p run_dir is set by the runner"),
    (["--preset", "clasroom"], "clasroom"),
])
def test_bad_parameters_of_singanseg_run_are_refused_before_anything_runs(tmp_path, capsys, argv, match):
    err = _cli_error(capsys, ["run", "--only", "01", "--run-dir", str(tmp_path / "runs"), "--no-progress", *argv])
    assert match in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv,match", [
    (["--set", "compile_steps", "maybe"], "'maybe' is not one of 'auto', 'on', 'off'"),
    (["--set", "max_sise", "40"], "max_sise"),
    (["--set", "iters_per_scale", "many"], "iters_per_scale"),
    (["--set", "max_size", "40", "--set", "max_size", "50"], "--set max_size given twice"),
])
def test_bad_fields_of_singanseg_train_are_refused_naming_the_choices(tmp_path, capsys, argv, match):
    err = _cli_error(capsys, ["train", str(tmp_path), "--out", str(tmp_path / "models"), "--no-progress", *argv])
    assert match in err and not (tmp_path / "models").exists()

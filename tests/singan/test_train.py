"""Training end to end: it learns, it is reproducible, it resumes after a kill, it refuses mismatches."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from conftest import REPO
from PIL import Image
from safetensors.torch import load_file
from toy_models import POLYP, polyp_image

from singanseg_lib.kit import presets
from singanseg_lib.singan import diagnostics as train_summary
from singanseg_lib.singan import train
from singanseg_lib.singan.checkpoint import load_model
from singanseg_lib.singan.noise import draw_noise


def test_config_defaults_are_the_reference_and_presets_apply():
    cfg = train.TrainConfig()
    assert (cfg.min_size, cfg.max_size, cfg.scale_factor_init, cfg.nfc, cfg.max_nfc) == (25, 250, 0.75, 32, 128)
    assert (cfg.iters_per_scale, cfg.lr_g, cfg.lr_d, cfg.betas, cfg.lr_gamma) == (2000, 5e-4, 5e-4, (0.5, 0.999), 0.1)
    assert round(cfg.lr_milestone * cfg.iters_per_scale) == 1600  # the reference's MultiStepLR milestone
    assert (cfg.d_steps, cfg.g_steps, cfg.g_update, cfg.rec_weight, cfg.gp_weight) == (3, 3, "once", 10.0, 0.1)
    assert (cfg.noise_amp_factor, cfg.precision, cfg.device) == (0.1, "fp32", "auto")
    paper = presets.config_from_preset(train.TrainConfig, "paper")
    assert (paper.max_size, paper.iters_per_scale) == (250, 2000)
    with pytest.raises(ValueError, match="lr_milestone"):
        train.TrainConfig(lr_milestone=1.5)
    with pytest.raises(TypeError, match="g_update"):
        presets.make_config(train.TrainConfig, g_update="twice")


def test_the_critic_step_is_compiled_only_where_compiling_pays():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert train.layout_for(train.TrainConfig(), 32, cpu).compiled  # the paper's 2,000 iterations per scale
    assert not train.layout_for(train.TrainConfig(iters_per_scale=160), 32, cpu).compiled  # classroom
    assert not train.layout_for(train.TrainConfig(compile_steps="off"), 32, cpu).compiled
    assert train.layout_for(train.TrainConfig(iters_per_scale=10, compile_steps="on"), 128, cpu).compiled
    assert not train.layout_for(train.TrainConfig(), 128, cuda).compiled  # not measured on a GPU
    on_gpu = train.layout_for(train.TrainConfig(compile_steps="on"), 32, cuda)
    assert on_gpu.compiled and not on_gpu.batched
    assert "compile_steps" in train.EXECUTION_FIELDS  # a model may be resumed with the other setting


def test_training_tensor_from_rgb_and_mask():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[0, 0] = (255, 0, 127)
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    x = train.to_training_tensor(rgb, mask)
    assert x.shape == (1, 4, 4, 5) and x.dtype == torch.float32
    assert x[0, :3, 0, 0].tolist() == pytest.approx([1.0, -1.0, 127 / 127.5 - 1])
    assert x[0, 3].unique().tolist() == [-1.0, 1.0] and x[0, 3, 1, 2] == 1
    with pytest.raises(ValueError, match="mask"):
        train.to_training_tensor(rgb, mask[:3])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small real model: the polyp fixture at max. 32 px (2 scales), 120 iterations per scale."""
    cfg = train.TrainConfig(max_size=32, iters_per_scale=120, device="cpu")
    events = []
    model_dir = tmp_path_factory.mktemp("model")
    model = train.train_model(polyp_image(), model_dir, cfg, seed=0, progress=False,
                              source={"image_id": "polyp"}, callback=events.append)
    return model, model_dir, cfg, events


def test_training_learns_to_reconstruct(trained):
    model, _, cfg, _ = trained
    errors = train_summary.reconstruction_errors(model)
    before = train_summary.initial_reconstruction_error(model, cfg, seed=0)
    assert errors[-1] < 0.2 * before, (errors, before)
    assert errors[-1] < 0.08  # in [-1, 1]: an RMSE below 0.28 (the untrained pyramid: ~0.45 MSE)
    history = train.load_history(trained[1])  # train-mode reconstruction loss at the finest scale
    assert np.mean(history[-1]["rec_mse"][-10:]) < 0.3 * np.mean(history[-1]["rec_mse"][:10])


def test_generated_masks_are_binary_and_plausible(trained):
    model = trained[0]
    pyr = model.pyramid
    g = torch.Generator().manual_seed(0)
    noises = [torch.stack([draw_noise((4, *pyr.plan.sizes[s]), s, generator=g) for _ in range(8)])
              for s in range(pyr.num_trained)]
    with torch.no_grad():
        out = pyr.generate(noises)
    masks = out[:, 3] > 0
    share = masks.float().mean(dim=(1, 2))
    real_share = float((model.reals[-1][0, 3] > 0).float().mean())
    assert set(torch.unique(masks).tolist()) == {False, True}
    assert (share > 0.01).all() and (share < 0.99).all(), share
    assert abs(float(share.mean()) - real_share) < 0.25
    assert not torch.allclose(out[0], out[1])  # different noise, different samples


def test_model_folder_records_everything(trained):
    model, model_dir, cfg, events = trained
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["seed"] == 0 and meta["config"] == cfg.to_dict() and meta["source"]["image_id"] == "polyp"
    assert len(meta["scales"]) == model.pyramid.plan.num_scales == 2
    assert meta["scales"][0]["noise_amp"] == 1.0 and 0 < meta["scales"][1]["noise_amp"] < 0.1
    assert {"seconds", "rec_mse", "history", "layout"} <= set(meta["scales"][1])
    assert len(events) == 2 * cfg.iters_per_scale and events[-1].done and events[0].losses.keys() == set(
        ["d_loss", "d_real", "d_fake", "gp", "g_adv", "rec_mse"])
    again = train.train_model(polyp_image(), model_dir, cfg, seed=0, progress=False)  # complete: just loads
    assert again.meta == model.meta
    assert train.model_status(model_dir) == "complete"


def test_mismatched_resume_is_refused(tmp_path):
    cfg = train.TrainConfig(max_size=30, iters_per_scale=2, device="cpu")
    train.train_model(polyp_image(), tmp_path, cfg, seed=1, progress=False)
    with pytest.raises(ValueError, match="iters_per_scale: 2 there, 3 now.*overwrite"):
        train.train_model(polyp_image(), tmp_path, train.TrainConfig(max_size=30, iters_per_scale=3), seed=1)
    with pytest.raises(ValueError, match="seed: 1 there, 2 now"):
        train.train_model(polyp_image(), tmp_path, cfg, seed=2, progress=False)
    with pytest.raises(ValueError, match="training image"):
        train.train_model(polyp_image().flip(-1), tmp_path, cfg, seed=1, progress=False)
    other = train.TrainConfig(max_size=30, iters_per_scale=3, device="cpu")
    model = train.train_model(polyp_image(), tmp_path, other, seed=2, progress=False, overwrite=True)
    assert model.meta["seed"] == 2 and model.meta["scales"][0]["iterations"] == 3


def _all_tensors(model_dir):
    return {f.name: load_file(str(f)) for f in sorted(model_dir.glob("scale_*.safetensors"))}


def _assert_identical(dir_a, dir_b):
    a, b = _all_tensors(dir_a), _all_tensors(dir_b)
    assert a.keys() == b.keys() and a
    for name in a:
        for key in a[name]:
            assert torch.equal(a[name][key], b[name][key]), f"{name}: {key}"
    meta_a, meta_b = (json.loads((d / "model.json").read_text()) for d in (dir_a, dir_b))
    assert [e["noise_amp"] for e in meta_a["scales"]] == [e["noise_amp"] for e in meta_b["scales"]]


def test_same_seed_same_weights(tmp_path):
    cfg = train.TrainConfig(max_size=30, iters_per_scale=6, device="cpu")
    for name in ("a", "b"):
        train.train_model(polyp_image(), tmp_path / name, cfg, seed=5, progress=False)
    _assert_identical(tmp_path / "a", tmp_path / "b")
    train.train_model(polyp_image(), tmp_path / "c", cfg, seed=6, progress=False)
    c = _all_tensors(tmp_path / "c")["scale_00.safetensors"]
    assert not torch.equal(c["G.head.conv.weight"], _all_tensors(tmp_path / "a")["scale_00.safetensors"]["G.head.conv.weight"])


@pytest.mark.slow
def test_compiled_training_learns_and_is_reproducible(tmp_path):
    """The compiled training steps (what the paper preset uses on a CPU) trains a model that learns,
    the same one twice with one seed, and says so in model.json."""
    cfg = train.TrainConfig(max_size=32, iters_per_scale=120, device="cpu", compile_steps="on")
    for name in ("a", "b"):
        train.train_model(polyp_image(), tmp_path / name, cfg, seed=0, progress=False)
    _assert_identical(tmp_path / "a", tmp_path / "b")
    meta = json.loads((tmp_path / "a" / "model.json").read_text())
    assert all(entry["layout"]["compiled"] for entry in meta["scales"])
    history = train.load_history(tmp_path / "a")
    assert np.mean(history[-1]["rec_mse"][-10:]) < 0.3 * np.mean(history[-1]["rec_mse"][:10])
    model = load_model(tmp_path / "a")
    before = train_summary.initial_reconstruction_error(model, cfg, seed=0)
    assert train_summary.reconstruction_errors(model)[-1] < 0.2 * before


# The training script the kill tests run in a subprocess (one thread: identical arithmetic in
# every process). KILL_AT = "scale,iteration" makes it SIGKILL itself there.
TRAIN_SCRIPT = textwrap.dedent("""
    import os, signal, sys, torch
    torch.set_num_threads(1)
    sys.path.insert(0, {tests!r})
    from toy_models import polyp_image
    from singanseg_lib.singan import train
    out, max_size, iters, kill_at = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cfg = train.TrainConfig(max_size=max_size, iters_per_scale=iters, device="cpu",
                            state_every=int(os.environ.get("STATE_EVERY", "100")))
    def maybe_kill(event):
        if kill_at != "-" and (event.scale, event.iteration) == tuple(map(int, kill_at.split(","))):
            os.kill(os.getpid(), signal.SIGKILL)
    train.train_model(polyp_image(), out, cfg, seed=11, progress=False, callback=maybe_kill)
""")


def _train_subprocess(tmp_path, out, max_size, iters, kill_at="-", wait=True, state_every=100):
    script = tmp_path / "train_script.py"
    script.write_text(TRAIN_SCRIPT.format(tests=str(REPO / "tests")))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "STATE_EVERY": str(state_every)}
    proc = subprocess.Popen([sys.executable, str(script), str(out), str(max_size), str(iters), kill_at],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        stdout, stderr = proc.communicate(timeout=600)
        proc.stderr_text = stderr
    return proc


def test_killed_training_resumes_to_the_same_model(tmp_path):
    """SIGKILL in the middle of scale 1, resume, compare with an uninterrupted run: bit for bit."""
    killed = _train_subprocess(tmp_path, tmp_path / "resumed", 32, 12, kill_at="1,5")
    assert killed.returncode == -signal.SIGKILL
    assert train.model_status(tmp_path / "resumed") == "partial"
    assert len(load_model(tmp_path / "resumed").meta["scales"]) == 1
    resumed = _train_subprocess(tmp_path, tmp_path / "resumed", 32, 12)
    assert resumed.returncode == 0, resumed.stderr_text
    straight = _train_subprocess(tmp_path, tmp_path / "straight", 32, 12)
    assert straight.returncode == 0, straight.stderr_text
    _assert_identical(tmp_path / "resumed", tmp_path / "straight")


@pytest.mark.parametrize("kill_at", ["0,7", "1,3", "1,11"])
def test_killed_inside_a_scale_resumes_from_its_state_bit_for_bit(tmp_path, kill_at):
    """SIGKILL after iteration k of a scale with a state every 2 iterations: the rerun continues
    from the state (iteration k rounded down to even, not 0) and ends with the uninterrupted model;
    the state file is gone once its scale is committed."""
    scale, k = map(int, kill_at.split(","))
    out = tmp_path / "resumed"
    assert _train_subprocess(tmp_path, out, 32, 12, kill_at=kill_at, state_every=2).returncode == -signal.SIGKILL
    saved = torch.load(out / f"scale_{scale:02d}_state.pt", weights_only=True)
    assert saved["iteration"] == k - k % 2 and len(saved["history"]) == saved["iteration"]
    resumed = _train_subprocess(tmp_path, out, 32, 12, state_every=2)
    assert resumed.returncode == 0, resumed.stderr_text
    assert not list(out.glob("scale_*_state.pt"))
    assert _train_subprocess(tmp_path, tmp_path / "straight", 32, 12).returncode == 0  # no states written
    _assert_identical(out, tmp_path / "straight")
    h_resumed, h_straight = train.load_history(out), train.load_history(tmp_path / "straight")
    assert h_resumed == h_straight


def test_a_damaged_state_is_named(tmp_path):
    cfg = train.TrainConfig(max_size=32, iters_per_scale=4, device="cpu", state_every=2)
    model = train.open_model(polyp_image(), tmp_path, cfg, seed=0)
    (tmp_path / "scale_00_state.pt").write_bytes(b"not a state")
    with pytest.raises(ValueError, match="scale_00_state.pt: cannot resume.*delete it"):
        train._train_scale(model, tmp_path, cfg, progress=False, callback=None)


@pytest.mark.slow
def test_externally_killed_training_resumes_to_the_same_model(tmp_path):
    """A kill from outside at an arbitrary moment (here: once 2 scales are committed)."""
    proc = _train_subprocess(tmp_path, tmp_path / "resumed", 48, 60, wait=False)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        meta = tmp_path / "resumed" / "model.json"
        if meta.exists() and len(json.loads(meta.read_text())["scales"]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert train.model_status(tmp_path / "resumed") == "partial"
    assert _train_subprocess(tmp_path, tmp_path / "resumed", 48, 60).returncode == 0
    assert _train_subprocess(tmp_path, tmp_path / "straight", 48, 60).returncode == 0
    _assert_identical(tmp_path / "resumed", tmp_path / "straight")


def test_cli_trains_a_folder_and_skips_finished_models(tmp_path, capsys):
    from singanseg_lib.cli import main

    rgba = np.array(Image.open(POLYP))
    for name, flip in (("a", False), ("b", True)):
        for sub, arr in (("images", rgba[..., :3]), ("masks", rgba[..., 3])):
            (tmp_path / "data" / sub).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr[:, ::-1] if flip else arr).save(tmp_path / "data" / sub / f"{name}.png")
    Image.open(tmp_path / "data" / "images" / "b.png").convert("L").save(tmp_path / "data" / "images" / "b.png")
    args = ["train", str(tmp_path / "data"), "--preset", "smoke", "--out", str(tmp_path / "models"), "--no-progress",
            "--set", "max_size", "30", "--set", "iters_per_scale", "2", "--device", "cpu"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "2 trained" in out
    # same size, same plan: fused by default on a CPU
    assert "up to 8 models per network: 1 scale plan(s) with 2 image(s), 1 group(s)" in out
    assert {e["fused_models"] for e in train.read_meta(tmp_path / "models" / "a")["scales"]} == {2}
    # a data warning names the user's file in one line, not our source line
    assert "warning: " in err and "grayscale" in err and "b.png" in err and "load_dataset(" not in err
    assert main(args) == 0
    assert "2 skipped" in capsys.readouterr().out
    assert main([*args, "--fuse", "1", "--overwrite"]) == 0  # each alone
    assert "fused" not in capsys.readouterr().out
    assert "fused_models" not in train.read_meta(tmp_path / "models" / "a")["scales"][0]
    assert train.model_status(tmp_path / "models" / "b") == "complete"
    assert main(["train", str(tmp_path / "data" / "images" / "a.png"), "--out", str(tmp_path / "models")]) == 1
    assert "needs its mask" in capsys.readouterr().err

"""Synthetic sets: file names, manifest, resuming, and never overwriting what differs."""
import csv
import json

import numpy as np
import pytest
from PIL import Image
from toy_models import make_model

from singanseg_lib.kit.files import OutputExistsError
from singanseg_lib.sampling import generate, synthetic

COLUMNS = "image,mask,source_image,source_path,model,sample,seed,start_scale,polyp_share"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    for i, name in enumerate(["polypA", "polypB"]):
        make_model(root / name, seed=i, image_id=name)
    return root


def _export(models_dir, out, **kw):
    return synthetic.export_models(models_dir, out, progress=False, **{"n_per_model": 3, "seed": 4, **kw})


def test_export_writes_pairs_and_manifest(models_dir, tmp_path):
    out = tmp_path / "set"
    summary = _export(models_dir, out)
    assert summary.written == 6 and summary.skipped == 0 and len(summary.models) == 2
    assert (out / "manifest.csv").read_text().splitlines()[0] == COLUMNS
    rows = synthetic.read_manifest(out)
    assert [(r["source_image"], r["sample"]) for r in rows] == [(m, k) for m in ("polypA.jpg", "polypB.jpg")
                                                                  for k in range(3)]
    for r in rows:
        name = r["source_image"][:-4]
        assert r["image"] == f"{name}_{r['sample']}_img.png" and r["mask"] == f"{name}_{r['sample']}_mask.png"
        assert r["seed"] == generate.sample_seed(4, r["sample"]) and r["start_scale"] == 0
        assert r["source_path"] == f"/data/images/{name}.jpg" and r["model"] == str((models_dir / name).resolve())
        img, mask = Image.open(out / r["image"]), Image.open(out / r["mask"])
        assert img.mode == "RGB" and mask.mode == "L" and img.size == mask.size == (48, 40)
        values = np.asarray(mask)
        assert set(np.unique(values)) <= {0, 255}
        assert r["polyp_share"] == pytest.approx((values == 255).mean(), abs=1e-6)


def test_exported_pixels_are_the_samples(models_dir, tmp_path):
    out = tmp_path / "set"
    _export(models_dir / "polypA", out, n_per_model=2)
    samples = generate.generate_samples(make_model(seed=0, image_id="polypA"), 2, seed=4)
    for k, row in enumerate(synthetic.read_manifest(out)):
        image, mask = synthetic.read_sample(out, row)
        assert np.abs(image.astype(int) - generate.to_uint8(samples.images)[k]).max() <= 1
        assert (mask == samples.masks[k].numpy()).mean() > 0.999


def test_rerun_skips_and_extends(models_dir, tmp_path):
    out = tmp_path / "set"
    _export(models_dir, out)
    stamp = (out / "polypA_0_img.png").stat().st_mtime_ns
    again = _export(models_dir, out)
    assert again.written == 0 and again.skipped == 6
    assert (out / "polypA_0_img.png").stat().st_mtime_ns == stamp
    more = _export(models_dir, out, n_per_model=5)
    assert more.written == 4 and more.skipped == 6 and len(synthetic.read_manifest(out)) == 10


def test_other_seed_or_size_refused_unless_overwrite(models_dir, tmp_path):
    out = tmp_path / "set"
    _export(models_dir, out)
    with pytest.raises(OutputExistsError, match="another seed, start scale, source or size"):
        _export(models_dir, out, seed=5)
    replaced = _export(models_dir, out, seed=5, overwrite=True)
    assert replaced.written == 6
    assert {r["seed"] for r in synthetic.read_manifest(out)} == {generate.sample_seed(5, k) for k in range(3)}


def test_killed_before_manifest_update_resumes(models_dir, tmp_path):
    """Files written but not yet listed (a kill between the two) are checked and kept, not refused."""
    out = tmp_path / "set"
    _export(models_dir, out)
    lines = (out / "manifest.csv").read_text().splitlines()
    (out / "manifest.csv").write_text("\n".join(lines[:3]) + "\n")  # header + 2 rows survive
    resumed = _export(models_dir, out)
    assert resumed.skipped == 2 and resumed.written == 4 and len(synthetic.read_manifest(out)) == 6


def test_foreign_file_is_not_overwritten(models_dir, tmp_path):
    out = tmp_path / "set"
    out.mkdir()
    Image.new("RGB", (48, 40), (255, 0, 0)).save(out / "polypA_1_img.png")
    with pytest.raises(OutputExistsError, match="polypA_1_img.png exists and differs"):
        _export(models_dir / "polypA", out)
    assert synthetic.read_manifest(out)[0]["sample"] == 0  # what was done before the conflict is listed
    again = _export(models_dir / "polypA", out, overwrite=True)
    assert (again.written, again.skipped) == (2, 1)
    assert np.asarray(Image.open(out / "polypA_1_img.png"))[..., 1].max() > 0


def test_original_size_export(tmp_path):
    make_model(tmp_path / "big", size=(60, 75), image_id="big")  # trained at 39 x 48
    _export(tmp_path / "big", tmp_path / "set", n_per_model=1, original_size=True)
    assert Image.open(tmp_path / "set" / "big_0_img.png").size == (75, 60)
    assert Image.open(tmp_path / "set" / "big_0_mask.png").size == (75, 60)
    with pytest.raises(OutputExistsError, match="or size"):  # the same samples at the model's size
        _export(tmp_path / "big", tmp_path / "set", n_per_model=1)


def test_incomplete_models_and_empty_folders(tmp_path):
    make_model(tmp_path / "m" / "a")
    meta_file = tmp_path / "m" / "a" / "model.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**meta, "scales": meta["scales"][:2]}))  # as if still in training
    with pytest.raises(ValueError, match="2 of 7 scales trained"):
        _export(tmp_path / "m", tmp_path / "out")
    assert _export(tmp_path / "m", tmp_path / "out", skip_incomplete=True).models == []
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no trained models"):
        _export(tmp_path / "empty", tmp_path / "out")


def test_manifest_of_a_later_step_is_refused(models_dir, tmp_path):
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS.split(",") + ["st_ratio"])
        w.writerow(["a.png", "a_m.png", "a.jpg", "/a.jpg", "/m", 0, 1, 0, 0.1, 1000])
    assert synthetic.read_manifest(tmp_path)[0]["st_ratio"] == "1000"
    with pytest.raises(ValueError, match="later step's set"):
        _export(models_dir, tmp_path)
    (tmp_path / "manifest.csv").write_text("name,seed\nx,1\n")
    with pytest.raises(ValueError, match="not a synthetic-set manifest"):
        synthetic.read_manifest(tmp_path)


def test_cli_generate_summary_and_resume(models_dir, tmp_path, capsys):
    from singanseg_lib.cli import main

    args = ["generate", str(models_dir), "--out", str(tmp_path / "set"), "--n", "2", "--preset", "smoke",
            "--device", "cpu", "--no-progress", "--seed", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "2 model(s), 4 sample(s) written, 0 already there" in out and "samples/s" in out
    assert main(args) == 0 and "0 sample(s) written, 4 already there (skipped)" in capsys.readouterr().out
    assert main(args[:-1] + ["2"]) == 1  # other seed: refused, nothing replaced
    assert "--overwrite" in capsys.readouterr().err
    assert main(["generate", str(tmp_path / "none"), "--out", str(tmp_path / "x")]) == 1
    assert "no such folder" in capsys.readouterr().err

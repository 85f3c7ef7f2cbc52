"""Image/mask folders: layouts, pairing, every kind of bad folder named, subsets, resolving, `data check`."""
import json

import numpy as np
import pytest
from folder_fakes import H, W, fake_image, fake_mask, good_folder, load_problems, save_image, truncate

from singanseg_lib import cli, data


@pytest.mark.parametrize("img_ext,mask_ext", [("jpg", "png"), ("png", "png"), ("tif", "tif"), ("jpeg", "tiff"),
                                              ("png", "jpg")])
def test_subfolder_layout_with_any_formats(tmp_path, img_ext, mask_ext):
    ds = data.load_dataset(good_folder(tmp_path, img_ext=img_ext, mask_ext=mask_ext), progress=False)
    assert ds.layout == "subfolders" and ds.ids == ["p0", "p1", "p2"]
    assert ds.warnings == []
    assert ds.shares == pytest.approx([0.25] * 3, abs=0.01)  # JPEG masks: a few edge pixels may move
    image, mask = ds.read("p1")
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and mask.dtype == bool and mask.shape == (H, W)


@pytest.mark.parametrize("img_name", ["p{}_img.png", "p{}.png"])
def test_flat_layouts(tmp_path, img_name):
    for i in range(2):
        save_image(fake_image(seed=i), tmp_path / img_name.format(i))
        save_image(fake_mask(), tmp_path / f"p{i}_mask.png")
    (tmp_path / "manifest.csv").write_text("image,mask\n")
    ds = data.load_dataset(tmp_path, progress=False)
    assert ds.layout == "flat" and ds.ids == ["p0", "p1"]


def test_singular_folder_names_and_ignored_files(tmp_path):
    save_image(fake_image(), tmp_path / "image" / "a.png")
    save_image(fake_mask(), tmp_path / "mask" / "a.png")
    (tmp_path / "image" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "bboxes.json").write_text("{}")
    save_image(fake_image(), tmp_path / "image" / "b.gif")  # an image format the kit does not read
    with pytest.warns(data.DataWarning, match="b.gif"):
        ds = data.load_dataset(tmp_path, progress=False)
    hint = "not " + "/".join(s.lstrip(".") for s in data.IMAGE_SUFFIXES)
    assert ds.ids == ["a"] and any("b.gif" in w and hint in w for w in ds.warnings)


def test_bmp_and_webp_are_read(tmp_path):
    save_image(fake_image(), tmp_path / "images" / "a.bmp")
    save_image(fake_mask(), tmp_path / "masks" / "a.png")
    save_image(fake_image(seed=1), tmp_path / "images" / "b.webp")
    save_image(fake_mask(), tmp_path / "masks" / "b.bmp")
    ds = data.load_dataset(tmp_path, progress=False)
    assert ds.ids == ["a", "b"] and ds.read("b")[1].any()


def test_no_layout_found_points_to_a_nested_data_set(tmp_path):
    good_folder(tmp_path / "Kvasir-SEG")
    with pytest.raises(FileNotFoundError, match="Kvasir-SEG/"):
        data.load_dataset(tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.load_dataset(tmp_path / "nothing", progress=False)


def test_missing_mask_is_an_error_extra_mask_a_warning(tmp_path):
    root = good_folder(tmp_path)
    (root / "masks" / "p1.png").unlink()
    problems, text = load_problems(root)
    assert len(problems) == 1 and "p1.jpg: no mask" in text
    save_image(fake_image(), root / "images" / "p1.jpg")
    save_image(fake_mask(), root / "masks" / "p1.png")
    save_image(fake_mask(), root / "masks" / "orphan.png")
    with pytest.warns(data.DataWarning, match="orphan.png"):
        ds = data.load_dataset(root, progress=False)
    assert ds.ids == ["p0", "p1", "p2"] and "mask without an image" in ds.warnings[0]


def test_duplicate_stems_and_size_mismatch(tmp_path):
    root = good_folder(tmp_path)
    save_image(fake_image(), root / "images" / "p0.png")  # p0.jpg and p0.png
    save_image(fake_mask(size=(W + 2, H)), root / "masks" / "p2.png")
    problems, text = load_problems(root)
    assert any("p0.png: same name as p0.jpg" in p for p in problems)
    assert any("p2.png: mask is 42x30 px, its image p2.jpg is 40x30 px" in p for p in problems)


def test_all_problems_reported_at_once(tmp_path):
    root = good_folder(tmp_path, n=5)
    (root / "masks" / "p0.png").unlink()
    truncate(root / "images" / "p1.jpg")
    save_image(fake_mask(size=(10, 10)), root / "masks" / "p2.png")
    problems, text = load_problems(root)
    assert len(problems) == 3 and str(root) in text and "3 problem(s)" in text


def test_subset_and_lookup_by_id(tmp_path):
    ds = data.load_dataset(good_folder(tmp_path, n=4), progress=False)
    part = ds.subset(["p3", "p1"])
    assert part.ids == ["p1", "p3"] and ds.ids == ["p0", "p1", "p2", "p3"] and part["p3"] is ds["p3"]
    with pytest.raises(KeyError, match="p9"):
        ds.subset(["p9"])
    with pytest.raises(KeyError, match="p9"):
        ds["p9"]


def test_resolve_data_dir(tmp_path, monkeypatch):
    assert data.resolve_data_dir("") == data.sample_dir() == data.resolve_data_dir("sample")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    assert data.resolve_data_dir("mine") == tmp_path / "mine"
    assert data.resolve_data_dir("data/sample") == data.sample_dir()  # from the kit's root (notebooks run in notebooks/)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.resolve_data_dir("nowhere")


def test_cli_check(tmp_path, capsys):
    root = good_folder(tmp_path / "good", mask_ext="png")
    save_image(fake_image("L"), root / "images" / "p0.jpg")
    assert cli.main(["data", "check", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "warning: grayscale image" in out and "3 image/mask pairs" in out and "polyp share mean" in out
    (root / "masks" / "p1.png").unlink()
    assert cli.main(["data", "check", str(root), "--no-progress"]) == 1
    assert "p1.jpg: no mask" in capsys.readouterr().err


@pytest.mark.parametrize("image,mask", [("21_training.tif", "21_training_1stHO.png"), ("ISIC_01.jpg", "ISIC_01_segmentation.png"),
                                        ("a.png", "a_gt.bmp"), ("a.jpg", "a_label.png"), ("a.png", "a_masks.png")])
@pytest.mark.parametrize("layout", ["subfolders", "flat"])
def test_common_mask_namings_pair_without_renaming(tmp_path, image, mask, layout):
    image_dir, mask_dir = (tmp_path / "images", tmp_path / "masks") if layout == "subfolders" else (tmp_path, tmp_path)
    stem, suffix = image.split(".")
    for i in range(2):
        save_image(fake_image(seed=i), image_dir / f"{i}{image}")
        save_image(fake_mask(), mask_dir / f"{i}{mask}")
    ds = data.load_dataset(tmp_path, progress=False)
    assert ds.layout == layout and ds.ids == [f"0{stem}", f"1{stem}"] and ds.warnings == []
    assert ds.mask_pattern == "{stem}" + mask.split(".")[0].removeprefix(stem) and ds.shares == pytest.approx([0.25] * 2)


def test_explicit_mask_pattern_and_bad_patterns(tmp_path):
    for i in range(2):
        save_image(fake_image(seed=i), tmp_path / "images" / f"p{i}.png")
        save_image(fake_mask(), tmp_path / "masks" / f"ref_p{i}_v2.png")
    save_image(fake_mask(), tmp_path / "masks" / "ref_p1_v2.jpg")  # not .png: not p1's mask under the pattern
    with pytest.warns(data.DataWarning, match="ref_p1_v2.jpg"):
        ds = data.load_dataset(tmp_path, mask_pattern="ref_{stem}_v2.PNG", progress=False)
    assert ds.ids == ["p0", "p1"] and ds.read("p1")[1].any() and ds["p1"].mask.name == "ref_p1_v2.png"
    for bad, match in [("{id}_mask.png", "once"), ("masks/{stem}.png", "once"), ("{stem}_{stem}", "once"),
                       ("{stem}_mask.gif", "jpg/jpeg/png")]:
        with pytest.raises(ValueError, match=match):
            data.load_dataset(tmp_path, mask_pattern=bad, progress=False)


def test_unmatched_masks_are_listed_with_the_unmatched_images(tmp_path):
    root = good_folder(tmp_path)
    (root / "masks" / "p1.png").rename(root / "masks" / "p1 copy.png")
    save_image(fake_mask(), root / "masks" / "orphan.png")
    with pytest.raises(data.DatasetError) as err:
        data.load_dataset(root, progress=False)
    e = err.value
    assert e.problems == [f"{root / 'images' / 'p1.jpg'}: no mask (expected p1.<{'|'.join(s.lstrip('.') for s in data.IMAGE_SUFFIXES)}> "
                          f"in {root / 'masks'})"]
    assert e.unmatched_masks == [root / "masks" / "orphan.png", root / "masks" / "p1 copy.png"]
    assert "2 mask(s) without an image:\n  - " in str(e) and "p1 copy.png" in str(e)
    assert e.hint == ""  # one image of three fails: no pattern to suggest


def test_pattern_suggested_when_most_pairs_fail_the_same_way(tmp_path):
    for i in range(3):
        save_image(fake_image(seed=i), tmp_path / "sub" / "images" / f"p{i}.jpg")
        save_image(fake_mask(), tmp_path / "sub" / "masks" / f"p{i}_annotation.png")
        save_image(fake_image(seed=i), tmp_path / "flat" / f"p{i}.jpg")
        save_image(fake_mask(), tmp_path / "flat" / f"p{i}_annotation.png")
    problems, text = load_problems(tmp_path / "sub")
    assert len(problems) == 3 and 'hint: 3 mask(s) seem to be named {stem}_annotation.png: pass --mask-pattern ' \
                                  '"{stem}_annotation.png"' in text
    with pytest.raises(FileNotFoundError, match='--mask-pattern "{stem}_annotation.png"'):
        data.load_dataset(tmp_path / "flat", progress=False)  # no known naming: no layout, but the suggestion
    problems, text = load_problems(tmp_path / "flat", layout="flat")
    assert "p0_annotation.png: no mask" in text and '--mask-pattern "{stem}_annotation.png"' in text
    for folder in ("sub", "flat"):
        ds = data.load_dataset(tmp_path / folder, mask_pattern="{stem}_annotation.png", progress=False)
        assert ds.ids == ["p0", "p1", "p2"] and ds.mask_pattern == "{stem}_annotation.png"
    (tmp_path / "sub" / "masks" / "p0_annotation.png").rename(tmp_path / "sub" / "masks" / "p0.png")
    (tmp_path / "sub" / "masks" / "p1_annotation.png").rename(tmp_path / "sub" / "masks" / "p1.png")
    problems, text = load_problems(tmp_path / "sub")  # only p2 fails now: the pattern would break p0 and p1
    assert len(problems) == 1 and "p2_annotation.png" in text and "hint" not in text


def test_two_namings_that_pair_alike_are_an_error(tmp_path):
    root = good_folder(tmp_path, n=2, mask_ext="png")
    for i in range(2):
        save_image(fake_mask(box=(0, 0, 10, 10)), root / "masks" / f"p{i}_gt.png")
    problems, _ = load_problems(root)
    assert problems == [f"{root / 'masks'}: the masks fit {{stem}} and {{stem}}_gt alike (2 pairs each); say which "
                        "with --mask-pattern (mask_pattern= in load_dataset)"]
    with pytest.warns(data.DataWarning, match="mask without an image"):  # p0.png, p1.png: not under {stem}_gt
        ds = data.load_dataset(root, mask_pattern="{stem}_gt", progress=False)
    assert ds.shares == pytest.approx([100 / (W * H)] * 2)


def test_images_too_small_for_the_pyramid(tmp_path):
    from singanseg_lib.singan.config import TrainConfig

    root = good_folder(tmp_path, n=2)
    small = (TrainConfig.min_size - 1, 60)
    save_image(fake_image(size=small), root / "images" / "tiny.png")
    save_image(fake_mask(size=small), root / "masks" / "tiny.png")
    problems, _ = load_problems(root)
    assert problems == [f"{root / 'images' / 'tiny.png'}: {small[0]}x60 px; SinGAN-Seg's pyramid needs at least "
                        f"{TrainConfig.min_size} px on the short side (TrainConfig.min_size)"]
    assert data.load_dataset(root, min_size=small[0], progress=False).ids == ["p0", "p1", "tiny"]
    assert load_problems(root, min_size=H + 1)[0][0].endswith(f"needs at least {H + 1} px on the short side "
                                                              "(TrainConfig.min_size)")


def test_cli_check_names_the_naming_and_takes_a_pattern(tmp_path, capsys):
    for i in range(2):
        save_image(fake_image(seed=i), tmp_path / "images" / f"{21 + i}_training.tif")
        save_image(fake_mask(), tmp_path / "masks" / f"{21 + i}_training_1stHO.png")
        save_image(fake_mask(), tmp_path / "masks" / f"{21 + i}_training_2ndHO.png")
    assert cli.main(["data", "check", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 image/mask pairs (subfolders layout, masks named {stem}_1stHO.<jpg|" in out
    assert "warning: mask without an image, ignored: 2 file(s)" in out and "22_training_2ndHO.png" in out
    assert cli.main(["data", "check", str(tmp_path), "--no-progress", "--mask-pattern", "{stem}_2ndHO.png"]) == 0
    assert "masks named {stem}_2ndHO.png), no errors" in capsys.readouterr().out
    assert cli.main(["data", "check", str(tmp_path), "--no-progress", "--mask-pattern", "{stem}_3rdHO.png"]) == 1
    err = capsys.readouterr().err
    assert "21_training.tif: no mask (expected 21_training_3rdHO.png in" in err and "4 mask(s) without an image" in err


@pytest.mark.parametrize("first,second", [("_1stHO", "_2ndHO"), ("_manual1", "_manual2")])
def test_a_second_observers_masks_leave_the_first_observers_taken(tmp_path, first, second):
    for i in range(2):
        save_image(fake_image(seed=i), tmp_path / "both" / f"{i}_training.tif")
        save_image(fake_mask(), tmp_path / "both" / f"{i}_training{first}.png")
        save_image(fake_mask(box=(0, 0, 4, 4)), tmp_path / "both" / f"{i}_training{second}.png")
        save_image(fake_image(seed=i), tmp_path / "second" / f"{i}_training.tif")
        save_image(fake_mask(box=(0, 0, 4, 4)), tmp_path / "second" / f"{i}_training{second}.png")
    with pytest.warns(data.DataWarning, match=f"mask without an image, ignored: 2 file.*{second}"):
        ds = data.load_dataset(tmp_path / "both", progress=False)
    assert ds.mask_pattern == "{stem}" + first and ds.shares == pytest.approx([0.25] * 2)
    only_second = data.load_dataset(tmp_path / "second", progress=False)
    assert only_second.mask_pattern == "{stem}" + second and only_second.shares == pytest.approx([16 / (W * H)] * 2)


def test_a_1stho_data_set_passes_data_check_and_trains_without_renaming(tmp_path, capsys):
    """The issue's check: CHASE_DB1-style ``<stem>_1stHO.png`` masks, no renaming, tiny training."""
    from singanseg_lib.singan.train import model_status

    for i in range(2):
        save_image(fake_image(seed=i), tmp_path / "chase" / "images" / f"Image_0{i}L.jpg")
        save_image(fake_mask(), tmp_path / "chase" / "masks" / f"Image_0{i}L_1stHO.png")
    assert cli.main(["data", "check", str(tmp_path / "chase"), "--no-progress"]) == 0
    assert "2 image/mask pairs (subfolders layout, masks named {stem}_1stHO." in capsys.readouterr().out
    train = ["train", str(tmp_path / "chase"), "--preset", "smoke", "--out", str(tmp_path / "models"), "--no-progress",
             "--device", "cpu", "--set", "max_size", "30", "--set", "iters_per_scale", "2", "--fuse", "1"]
    assert cli.main([*train, "--mask-pattern", "{stem}_1stHO.png"]) == 0
    assert "2 trained" in capsys.readouterr().out
    assert [model_status(tmp_path / "models" / f"Image_0{i}L") for i in range(2)] == ["complete"] * 2
    assert cli.main([*train, "--mask-pattern", "{stem}_2ndHO.png"]) == 1  # a pattern no mask follows
    assert "Image_00L.jpg: no mask (expected Image_00L_2ndHO.png in" in capsys.readouterr().err


@pytest.mark.parametrize("no_progress", [True, False])
def test_train_no_progress_hides_the_data_check_bar(tmp_path, capsys, no_progress):
    import argparse

    from singanseg_lib.cli import train

    root = good_folder(tmp_path)
    jobs = train._jobs(argparse.Namespace(source=str(root), mask=None, mask_pattern=None, limit=None, only=None,
                                         no_progress=no_progress))
    assert [j.id for j in jobs] == ["p0", "p1", "p2"]
    assert ("checking" in capsys.readouterr().err) is not no_progress  # the bar, drawn only when asked for


@pytest.mark.notebooks
def test_notebook_00_on_another_data_set(tmp_path):
    """Grayscale PNG scans with 0/1 PNG label masks in one folder, of two sizes, one without a lesion."""
    from singanseg_lib.kit import runner

    folder = tmp_path / "ultrasound"
    for i in range(7):
        size = (64, 48) if i % 2 else (80, 80)
        save_image(fake_image("L", size=size, seed=i), folder / f"scan{i}.png")
        box = (0, 0, 0, 0) if i == 3 else (4, 4, 8 + 4 * i, 30)
        save_image(fake_mask(box, size=size, high=1), folder / f"scan{i}_mask.png")
    run_dir, plans = runner.plan_run("smoke", {"data_dir": str(folder)}, only=["00"], run_dir=tmp_path / "runs")
    runner.execute_notebook(plans[0], run_dir, progress=False)
    record = json.loads((run_dir / "00_data" / "metrics.json").read_text())
    metrics = record["metrics"]
    assert metrics["pairs"] == 7 and metrics["layout"] == "flat" and metrics["empty_masks"] == 1
    assert metrics["distinct_sizes"] == 2 and metrics["folds"] == [3, 2, 2]
    assert any("grayscale" in w for w in metrics["warnings"]) and any("0/1" in w for w in metrics["warnings"])
    assert metrics["share_max"] == pytest.approx(24 * 26 / (64 * 48))  # scan5
    folds = data.load_folds(run_dir / "00_data" / "folds.json")
    assert sorted(x for f in folds.folds for x in f) == [f"scan{i}" for i in range(7)]

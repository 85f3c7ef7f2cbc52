"""Image/mask folders: layouts, every kind of bad folder, binarisation, statistics and k-fold splits."""
import importlib.util
import io
import json

import numpy as np
import pytest
from conftest import REPO
from PIL import Image

from singanseg_lib import cli, data
from singanseg_lib.data import images
from singanseg_lib.kit.files import read_sha256sums, sha256_file

W, H = 40, 30


def _img(mode="RGB", size=(W, H), seed=0):
    rng = np.random.default_rng(seed)
    if mode == "L":
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA")
    return Image.fromarray(rgb, "RGB")


def _mask(box=(5, 5, 25, 20), size=(W, H), high=255):
    m = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = high
    return Image.fromarray(m, "L")


def _save(im, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def _folder(root, n=3, *, img_ext="jpg", mask_ext="png", layout="subfolders"):
    """n good pairs; mask i covers a 20 x 15 box (share 300 / 1200 = 0.25)."""
    for i in range(n):
        if layout == "subfolders":
            _save(_img(seed=i), root / "images" / f"p{i}.{img_ext}")
            _save(_mask(), root / "masks" / f"p{i}.{mask_ext}")
        else:
            _save(_img(seed=i), root / f"p{i}_img.{img_ext}")
            _save(_mask(), root / f"p{i}_mask.{mask_ext}")
    return root


def _problems(root, **kw):
    with pytest.raises(data.DatasetError) as err:
        data.load_dataset(root, progress=False, **kw)
    return err.value.problems, str(err.value)


# --- the bundled sample and the full set ---------------------------------------------------------

def test_sample_is_byte_identical_to_its_manifest_and_spans_polyp_sizes():
    root = data.sample_dir()
    sums = read_sha256sums(root / "SHA256SUMS")
    on_disk = sorted(str(p.relative_to(root)) for p in root.rglob("*.jpg"))
    assert sorted(sums) == on_disk and len(on_disk) == 72
    assert all(sha256_file(root / name) == digest for name, digest in sums.items())
    ds = data.load_dataset(root, progress=False)
    assert len(ds) == 36 and ds.warnings == []
    assert ds.shares.min() < 0.01 and ds.shares.max() > 0.5, "from the smallest to the largest polyps"
    assert len({p.size for p in ds}) >= 20, "many image sizes"
    assert sum(p.stat().st_size for p in root.rglob("*")) < 4e6


@pytest.fixture(scope="module")
def full_set(full_kvasir):
    return data.load_dataset(full_kvasir, progress=False)


def test_full_kvasir_loads_clean_with_its_known_statistics(full_set):
    stats = data.summarize(full_set)
    assert stats["pairs"] == 1000 and full_set.warnings == []
    assert stats["distinct_sizes"] == 333 and (stats["width_min"], stats["width_max"]) == (332, 1920)
    assert stats["share_min"] == pytest.approx(0.00474, abs=1e-5) and stats["share_max"] == pytest.approx(0.8118, abs=1e-4)
    assert stats["share_mean"] == pytest.approx(0.1539, abs=1e-4) and stats["empty_masks"] == 0


def test_sample_is_what_the_selection_script_chooses(full_set):
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "scripts" / "make_sample.py")
    make_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_sample)
    chosen = make_sample.select_sample(full_set)
    assert make_sample.check_sample(chosen, data.sample_dir()) == []
    ranked = sorted(full_set, key=lambda p: (p.polyp_share, p.id))
    assert chosen[0] == ranked[0] and chosen[-1] == ranked[-1]


# --- layouts ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("img_ext,mask_ext", [("jpg", "png"), ("png", "png"), ("tif", "tif"), ("jpeg", "tiff"),
                                              ("png", "jpg")])
def test_subfolder_layout_with_any_formats(tmp_path, img_ext, mask_ext):
    ds = data.load_dataset(_folder(tmp_path, img_ext=img_ext, mask_ext=mask_ext), progress=False)
    assert ds.layout == "subfolders" and ds.ids == ["p0", "p1", "p2"]
    assert ds.warnings == []
    assert ds.shares == pytest.approx([0.25] * 3, abs=0.01)  # JPEG masks: a few edge pixels may move
    image, mask = ds.read("p1")
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and mask.dtype == bool and mask.shape == (H, W)


@pytest.mark.parametrize("img_name", ["p{}_img.png", "p{}.png"])
def test_flat_layouts(tmp_path, img_name):
    for i in range(2):
        _save(_img(seed=i), tmp_path / img_name.format(i))
        _save(_mask(), tmp_path / f"p{i}_mask.png")
    (tmp_path / "manifest.csv").write_text("image,mask\n")
    ds = data.load_dataset(tmp_path, progress=False)
    assert ds.layout == "flat" and ds.ids == ["p0", "p1"]


def test_singular_folder_names_and_ignored_files(tmp_path):
    _save(_img(), tmp_path / "image" / "a.png")
    _save(_mask(), tmp_path / "mask" / "a.png")
    (tmp_path / "image" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "bboxes.json").write_text("{}")
    _save(_img(), tmp_path / "image" / "b.gif")  # an image format the kit does not read
    with pytest.warns(data.DataWarning, match="b.gif"):
        ds = data.load_dataset(tmp_path, progress=False)
    hint = "not " + "/".join(s.lstrip(".") for s in data.IMAGE_SUFFIXES)
    assert ds.ids == ["a"] and any("b.gif" in w and hint in w for w in ds.warnings)


def test_bmp_and_webp_are_read(tmp_path):
    _save(_img(), tmp_path / "images" / "a.bmp")
    _save(_mask(), tmp_path / "masks" / "a.png")
    _save(_img(seed=1), tmp_path / "images" / "b.webp")
    _save(_mask(), tmp_path / "masks" / "b.bmp")
    ds = data.load_dataset(tmp_path, progress=False)
    assert ds.ids == ["a", "b"] and ds.read("b")[1].any()


def test_no_layout_found_points_to_a_nested_data_set(tmp_path):
    _folder(tmp_path / "Kvasir-SEG")
    with pytest.raises(FileNotFoundError, match="Kvasir-SEG/"):
        data.load_dataset(tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.load_dataset(tmp_path / "nothing", progress=False)


# --- bad folders: errors name the file ---------------------------------------------------------------

def test_missing_mask_is_an_error_extra_mask_a_warning(tmp_path):
    root = _folder(tmp_path)
    (root / "masks" / "p1.png").unlink()
    problems, text = _problems(root)
    assert len(problems) == 1 and "p1.jpg: no mask" in text
    _save(_img(), root / "images" / "p1.jpg")
    _save(_mask(), root / "masks" / "p1.png")
    _save(_mask(), root / "masks" / "orphan.png")
    with pytest.warns(data.DataWarning, match="orphan.png"):
        ds = data.load_dataset(root, progress=False)
    assert ds.ids == ["p0", "p1", "p2"] and "mask without an image" in ds.warnings[0]


def test_duplicate_stems_and_size_mismatch(tmp_path):
    root = _folder(tmp_path)
    _save(_img(), root / "images" / "p0.png")  # p0.jpg and p0.png
    _save(_mask(size=(W + 2, H)), root / "masks" / "p2.png")
    problems, text = _problems(root)
    assert any("p0.png: same name as p0.jpg" in p for p in problems)
    assert any("p2.png: mask is 42x30 px, its image p2.jpg is 40x30 px" in p for p in problems)


def _truncate(path, keep=0.6):
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


@pytest.mark.parametrize("target", ["images/p1.jpg", "images/p1.png", "masks/p1.png", "masks/p1.jpg"])
def test_truncated_files_are_caught(tmp_path, target):
    img_ext = target.split(".")[1] if target.startswith("images") else "jpg"
    mask_ext = target.split(".")[1] if target.startswith("masks") else "png"
    root = _folder(tmp_path, img_ext=img_ext, mask_ext=mask_ext)
    _truncate(root / target)
    problems, _ = _problems(root)
    assert len(problems) == 1 and target.split("/")[1] in problems[0]
    assert "truncated" in problems[0] or "unreadable" in problems[0]


def test_unreadable_files(tmp_path):
    root = _folder(tmp_path)
    (root / "images" / "p0.jpg").write_bytes(b"this is not a picture")
    (root / "masks" / "p2.png").write_bytes(b"")
    problems, _ = _problems(root)
    assert sorted(p.split(": ")[0].split("/")[-1] for p in problems) == ["p0.jpg", "p2.png"]
    assert all("unreadable" in p for p in problems)


def test_grayscale_image_warns_and_is_replicated(tmp_path):
    root = _folder(tmp_path)
    _save(_img("L"), root / "images" / "p0.jpg")
    with pytest.warns(data.DataWarning, match="grayscale"):
        ds = data.load_dataset(root, progress=False)
    image = data.read_image(ds["p0"].image)
    assert image.shape == (H, W, 3) and (image[..., 0] == image[..., 2]).all()


def test_rgba_opaque_warns_transparent_is_an_error(tmp_path):
    root = _folder(tmp_path, img_ext="png")
    rgba = _img("RGBA")
    _save(rgba, root / "images" / "p0.png")
    with pytest.warns(data.DataWarning, match="alpha channel fully opaque, dropped"):
        ds = data.load_dataset(root, progress=False)
    assert (data.read_image(ds["p0"].image) == np.asarray(rgba)[..., :3]).all()
    seethrough = np.asarray(rgba).copy()
    seethrough[0, 0, 3] = 10
    _save(Image.fromarray(seethrough, "RGBA"), root / "images" / "p0.png")
    problems, _ = _problems(root)
    assert len(problems) == 1 and "p0.png: transparent pixels (alpha down to 10)" in problems[0]


def test_16_bit_image_is_an_error(tmp_path):
    root = _folder(tmp_path, img_ext="png")
    _save(Image.fromarray(np.full((H, W), 40000, np.uint16)), root / "images" / "p2.png")
    problems, _ = _problems(root)
    assert len(problems) == 1 and "p2.png" in problems[0] and "16-bit" in problems[0]


def test_empty_mask_warns(tmp_path):
    root = _folder(tmp_path)
    _save(_mask(box=(0, 0, 0, 0)), root / "masks" / "p2.png")
    with pytest.warns(data.DataWarning, match="empty mask"):
        ds = data.load_dataset(root, progress=False)
    assert ds["p2"].polyp_share == 0 and data.summarize(ds)["empty_masks"] == 1


def test_non_binary_mask_is_an_error_with_the_fraction(tmp_path):
    root = _folder(tmp_path)
    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))  # a grey ramp, not a mask
    _save(Image.fromarray(ramp, "L"), root / "masks" / "p0.png")
    problems, _ = _problems(root)
    expected = np.mean((ramp >= 32) & (ramp <= 223))
    assert len(problems) == 1 and "p0.png: not a binary mask" in problems[0] and f"{expected:.1%}" in problems[0]


def test_jpeg_noise_and_soft_edges_pass(tmp_path):
    """JPEG masks (as Kvasir-SEG ships them) and a blurred edge stay under the mid-grey limit."""
    root = _folder(tmp_path, mask_ext="jpg")
    big = _mask(box=(60, 40, 300, 200), size=(400, 300))
    _save(_img(size=(400, 300)), root / "images" / "big.jpg")
    _save(big, root / "masks" / "big.jpg", quality=50)
    from PIL import ImageFilter
    _save(big.filter(ImageFilter.GaussianBlur(1.5)), root / "masks" / "p0.jpg", quality=90)
    _save(_img(size=(400, 300)), root / "images" / "p0.jpg")
    ds = data.load_dataset(root, progress=False)
    assert ds["big"].polyp_share == pytest.approx(240 * 160 / 120000, rel=0.02)
    assert ds.warnings == []


def test_all_problems_reported_at_once(tmp_path):
    root = _folder(tmp_path, n=5)
    (root / "masks" / "p0.png").unlink()
    _truncate(root / "images" / "p1.jpg")
    _save(_mask(size=(10, 10)), root / "masks" / "p2.png")
    problems, text = _problems(root)
    assert len(problems) == 3 and str(root) in text and "3 problem(s)" in text


# --- binarisation --------------------------------------------------------------------------------

def test_threshold_is_grey_above_127(tmp_path):
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    path = _save(Image.fromarray(grey, "L"), tmp_path / "m.png")
    assert data.read_mask(path).tolist() == [[False, False, True, True]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = 255
    assert data.read_mask(_save(Image.fromarray(rgb), tmp_path / "rgb.png")).tolist() == [[False, True]]
    assert images.MASK_THRESHOLD == data.MASK_THRESHOLD == 127


def test_zero_one_label_maps_are_read_as_foreground(tmp_path):
    root = _folder(tmp_path)
    _save(_mask(high=1), root / "masks" / "p0.png")
    pal = _mask(high=1).convert("P")
    _save(pal, root / "masks" / "p1.png")
    with pytest.warns(data.DataWarning, match="0/1"):
        ds = data.load_dataset(root, progress=False)
    assert ds.shares == pytest.approx([0.25] * 3)
    assert data.read_mask(ds["p0"].mask).sum() == 300


# --- statistics, picking, resolving ----------------------------------------------------------------

def test_summary_and_pick_by_share(tmp_path):
    for i, x1 in enumerate([10, 20, 40]):  # shares 150, 300, 600 of 1,200 pixels
        _save(_img(seed=i), tmp_path / "images" / f"p{i}.png")
        _save(_mask(box=(0, 0, x1, 15)), tmp_path / "masks" / f"p{i}.png")
    ds = data.load_dataset(tmp_path, progress=False)
    stats = data.summarize(ds)
    assert (stats["share_min"], stats["share_median"], stats["share_max"]) == (0.125, 0.25, 0.5)
    assert stats["most_common_size"] == "40x30 (3)"
    table = data.summary_table({"tiny": ds})
    assert table.loc["polyp share mean (%)", "tiny"] == pytest.approx(100 * 1050 / 3600, abs=0.01)
    assert [p.id for p in data.pick_by_share(ds, 2)] == ["p0", "p2"]
    assert len(data.pick_by_share(ds, 10)) == 3


def test_subset_and_lookup_by_id(tmp_path):
    ds = data.load_dataset(_folder(tmp_path, n=4), progress=False)
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


# --- k-fold splits -------------------------------------------------------------------------------

def test_folds_deterministic_disjoint_covering():
    ids = [f"id{i:03d}" for i in range(100)]
    folds = data.make_folds(ids, 3, seed=7)
    assert data.make_folds(list(reversed(ids)), 3, seed=7) == folds, "independent of input order"
    assert data.make_folds(ids, 3, seed=8) != folds
    flat = [x for f in folds.folds for x in f]
    assert sorted(flat) == ids and len(set(flat)) == 100
    assert sorted(len(f) for f in folds.folds) == [33, 33, 34]
    for i in range(3):
        assert set(folds.train_ids(i)) | set(folds.val_ids(i)) == set(ids)
        assert not set(folds.train_ids(i)) & set(folds.val_ids(i))
    with pytest.raises(ValueError, match="k = 1"):
        data.make_folds(ids, 1)


def test_folds_saved_and_loaded(tmp_path):
    folds = data.make_folds(["a", "b", "c", "d", "e"], 2, seed=1, source="tiny")
    path = data.save_folds(folds, tmp_path / "folds.json")
    assert data.load_folds(path) == folds
    record = json.loads(path.read_text())
    assert record["k"] == 2 and record["seed"] == 1
    record["folds"][1].append(record["folds"][0][0])
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="more than one fold"):
        data.load_folds(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="folds.json"):
        data.load_folds(path)


# --- command line --------------------------------------------------------------------------------

def test_cli_check(tmp_path, capsys):
    root = _folder(tmp_path / "good", mask_ext="png")
    _save(_img("L"), root / "images" / "p0.jpg")
    assert cli.main(["data", "check", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "warning: grayscale image" in out and "3 image/mask pairs" in out and "polyp share mean" in out
    (root / "masks" / "p1.png").unlink()
    assert cli.main(["data", "check", str(root), "--no-progress"]) == 1
    assert "p1.jpg: no mask" in capsys.readouterr().err


def test_images_read_from_memory_formats(tmp_path):
    """read_image accepts palette images and CMYK JPEGs (converted to RGB)."""
    pal = _save(_img().convert("P"), tmp_path / "p.png")
    assert data.read_image(pal).shape == (H, W, 3)
    buf = io.BytesIO()
    _img().convert("CMYK").save(buf, "JPEG")
    (tmp_path / "c.jpg").write_bytes(buf.getvalue())
    assert data.read_image(tmp_path / "c.jpg").shape == (H, W, 3)


# --- notebook 00 on a data set that is not Kvasir-SEG -------------------------------------------------

@pytest.mark.notebooks
def test_notebook_00_on_another_data_set(tmp_path):
    """Grayscale PNG scans with 0/1 PNG label masks in one folder, of two sizes, one without a lesion."""
    from singanseg_lib.kit import runner

    folder = tmp_path / "ultrasound"
    for i in range(7):
        size = (64, 48) if i % 2 else (80, 80)
        _save(_img("L", size=size, seed=i), folder / f"scan{i}.png")
        box = (0, 0, 0, 0) if i == 3 else (4, 4, 8 + 4 * i, 30)
        _save(_mask(box, size=size, high=1), folder / f"scan{i}_mask.png")
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

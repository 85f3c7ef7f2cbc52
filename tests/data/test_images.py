"""Reading images and masks: damaged and unusual files, binarisation at MASK_THRESHOLD, 0/1 label maps."""
import io

import numpy as np
import pytest
from folder_fakes import H, W, fake_image, fake_mask, good_folder, load_problems, save_image, truncate
from PIL import Image

from singanseg_lib import data
from singanseg_lib.data import images


@pytest.mark.parametrize("target", ["images/p1.jpg", "images/p1.png", "masks/p1.png", "masks/p1.jpg"])
def test_truncated_files_are_caught(tmp_path, target):
    img_ext = target.split(".")[1] if target.startswith("images") else "jpg"
    mask_ext = target.split(".")[1] if target.startswith("masks") else "png"
    root = good_folder(tmp_path, img_ext=img_ext, mask_ext=mask_ext)
    truncate(root / target)
    problems, _ = load_problems(root)
    assert len(problems) == 1 and target.split("/")[1] in problems[0]
    assert "truncated" in problems[0] or "unreadable" in problems[0]


def test_unreadable_files(tmp_path):
    root = good_folder(tmp_path)
    (root / "images" / "p0.jpg").write_bytes(b"this is not a picture")
    (root / "masks" / "p2.png").write_bytes(b"")
    problems, _ = load_problems(root)
    assert sorted(p.split(": ")[0].split("/")[-1] for p in problems) == ["p0.jpg", "p2.png"]
    assert all("unreadable" in p for p in problems)


def test_grayscale_image_warns_and_is_replicated(tmp_path):
    root = good_folder(tmp_path)
    save_image(fake_image("L"), root / "images" / "p0.jpg")
    with pytest.warns(data.DataWarning, match="grayscale"):
        ds = data.load_dataset(root, progress=False)
    image = data.read_image(ds["p0"].image)
    assert image.shape == (H, W, 3) and (image[..., 0] == image[..., 2]).all()


def test_rgba_opaque_warns_transparent_is_an_error(tmp_path):
    root = good_folder(tmp_path, img_ext="png")
    rgba = fake_image("RGBA")
    save_image(rgba, root / "images" / "p0.png")
    with pytest.warns(data.DataWarning, match="alpha channel fully opaque, dropped"):
        ds = data.load_dataset(root, progress=False)
    assert (data.read_image(ds["p0"].image) == np.asarray(rgba)[..., :3]).all()
    seethrough = np.asarray(rgba).copy()
    seethrough[0, 0, 3] = 10
    save_image(Image.fromarray(seethrough, "RGBA"), root / "images" / "p0.png")
    problems, _ = load_problems(root)
    assert len(problems) == 1 and "p0.png: transparent pixels (alpha down to 10)" in problems[0]


def test_16_bit_image_is_an_error(tmp_path):
    root = good_folder(tmp_path, img_ext="png")
    save_image(Image.fromarray(np.full((H, W), 40000, np.uint16)), root / "images" / "p2.png")
    problems, _ = load_problems(root)
    assert len(problems) == 1 and "p2.png" in problems[0] and "16-bit" in problems[0]


def test_empty_mask_warns(tmp_path):
    root = good_folder(tmp_path)
    save_image(fake_mask(box=(0, 0, 0, 0)), root / "masks" / "p2.png")
    with pytest.warns(data.DataWarning, match="empty mask"):
        ds = data.load_dataset(root, progress=False)
    assert ds["p2"].polyp_share == 0 and data.summarize(ds)["empty_masks"] == 1


def test_non_binary_mask_is_an_error_with_the_fraction(tmp_path):
    root = good_folder(tmp_path)
    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (H, 1))  # a grey ramp, not a mask
    save_image(Image.fromarray(ramp, "L"), root / "masks" / "p0.png")
    problems, _ = load_problems(root)
    expected = np.mean((ramp >= 32) & (ramp <= 223))
    assert len(problems) == 1 and "p0.png: not a binary mask" in problems[0] and f"{expected:.1%}" in problems[0]


def test_jpeg_noise_and_soft_edges_pass(tmp_path):
    """JPEG masks (as Kvasir-SEG ships them) and a blurred edge stay under the mid-grey limit."""
    root = good_folder(tmp_path, mask_ext="jpg")
    big = fake_mask(box=(60, 40, 300, 200), size=(400, 300))
    save_image(fake_image(size=(400, 300)), root / "images" / "big.jpg")
    save_image(big, root / "masks" / "big.jpg", quality=50)
    from PIL import ImageFilter
    save_image(big.filter(ImageFilter.GaussianBlur(1.5)), root / "masks" / "p0.jpg", quality=90)
    save_image(fake_image(size=(400, 300)), root / "images" / "p0.jpg")
    ds = data.load_dataset(root, progress=False)
    assert ds["big"].polyp_share == pytest.approx(240 * 160 / 120000, rel=0.02)
    assert ds.warnings == []


def test_threshold_is_grey_above_127(tmp_path):
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    path = save_image(Image.fromarray(grey, "L"), tmp_path / "m.png")
    assert data.read_mask(path).tolist() == [[False, False, True, True]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = 255
    assert data.read_mask(save_image(Image.fromarray(rgb), tmp_path / "rgb.png")).tolist() == [[False, True]]
    assert images.MASK_THRESHOLD == data.MASK_THRESHOLD == 127


def test_zero_one_label_maps_are_read_as_foreground(tmp_path):
    root = good_folder(tmp_path)
    save_image(fake_mask(high=1), root / "masks" / "p0.png")
    pal = fake_mask(high=1).convert("P")
    save_image(pal, root / "masks" / "p1.png")
    with pytest.warns(data.DataWarning, match="0/1"):
        ds = data.load_dataset(root, progress=False)
    assert ds.shares == pytest.approx([0.25] * 3)
    assert data.read_mask(ds["p0"].mask).sum() == 300


def test_images_read_from_memory_formats(tmp_path):
    """read_image accepts palette images and CMYK JPEGs (converted to RGB)."""
    pal = save_image(fake_image().convert("P"), tmp_path / "p.png")
    assert data.read_image(pal).shape == (H, W, 3)
    buf = io.BytesIO()
    fake_image().convert("CMYK").save(buf, "JPEG")
    (tmp_path / "c.jpg").write_bytes(buf.getvalue())
    assert data.read_image(tmp_path / "c.jpg").shape == (H, W, 3)

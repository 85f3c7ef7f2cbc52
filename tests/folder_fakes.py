"""Small image/mask folders made on the fly for the data tests (sizes W x H)."""
import numpy as np
import pytest
from PIL import Image

from singanseg_lib import data

W, H = 40, 30


def fake_image(mode="RGB", size=(W, H), seed=0):
    rng = np.random.default_rng(seed)
    if mode == "L":
        return Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8), "L")
    rgb = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]), "RGBA")
    return Image.fromarray(rgb, "RGB")


def fake_mask(box=(5, 5, 25, 20), size=(W, H), high=255):
    m = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = high
    return Image.fromarray(m, "L")


def save_image(im, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kw)
    return path


def good_folder(root, n=3, *, img_ext="jpg", mask_ext="png", layout="subfolders"):
    """n good pairs; mask i covers a 20 x 15 box (share 300 / 1200 = 0.25)."""
    for i in range(n):
        if layout == "subfolders":
            save_image(fake_image(seed=i), root / "images" / f"p{i}.{img_ext}")
            save_image(fake_mask(), root / "masks" / f"p{i}.{mask_ext}")
        else:
            save_image(fake_image(seed=i), root / f"p{i}_img.{img_ext}")
            save_image(fake_mask(), root / f"p{i}_mask.{mask_ext}")
    return root


def load_problems(root, **kw):
    with pytest.raises(data.DatasetError) as err:
        data.load_dataset(root, progress=False, **kw)
    return err.value.problems, str(err.value)


def truncate(path, keep=0.6):
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])

"""Segmentation data: pairing real folders, reading synthetic sets by their manifest, clear errors."""
import csv

import numpy as np
import pytest
from seg_fixtures import make_real_folder, make_synthetic_set

from singanseg_lib.segmentation import pairs as segdata


@pytest.fixture
def real_root(tmp_path):
    return make_real_folder(tmp_path / "real", 4, size=40)


def test_real_pairs_by_stem_and_loading(real_root):
    pairs = segdata.list_real_pairs(real_root)
    assert [p.source for p in pairs] == ["img00", "img01", "img02", "img03"]
    assert all(p.image.stem == p.mask.stem == p.name for p in pairs)
    arrays = segdata.load_pairs(pairs, size=32)
    assert arrays.images.shape == (4, 32, 32, 3) and arrays.images.dtype == np.uint8
    assert arrays.masks.dtype == bool and 0.02 < arrays.masks.mean() < 0.5


def test_real_folder_errors_name_the_files(real_root):
    (real_root / "masks" / "img02.png").unlink()
    with pytest.raises(ValueError, match="img02"):
        segdata.list_real_pairs(real_root)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        segdata.list_real_pairs(real_root / "nowhere")


def test_synthetic_set_read_by_manifest(real_root, tmp_path):
    set_dir = make_synthetic_set(tmp_path / "runs" / "02_generation" / "synthetic", real_root, ["img01", "img03"],
                                 per_image=3)
    pairs = segdata.read_synthetic_set(set_dir)
    assert [(p.source, p.sample) for p in pairs] == [(i, k) for i in ("img01", "img03") for k in range(3)]
    assert all(p.kind == "synthetic" and p.image.name == f"{p.name}_img.png" for p in pairs)
    assert segdata.find_synthetic_set(tmp_path / "runs") == set_dir
    with pytest.raises(FileNotFoundError, match="04_style_transfer"):
        segdata.find_synthetic_set(tmp_path / "runs", "1_1000")
    sets = {"none": pairs, "1_1000": [p for p in pairs if p.source == "img03"]}
    assert segdata.modelled_ids(sets) == ["img03"] and segdata.modelled_ids(sets, min_samples=4) == []


def test_broken_manifests(real_root, tmp_path):
    set_dir = make_synthetic_set(tmp_path / "s", real_root, ["img00"], per_image=2)
    (set_dir / "img00_1_mask.png").unlink()
    with pytest.raises(FileNotFoundError, match="manifest.csv:3.*img00_1_mask.png"):
        segdata.read_synthetic_set(set_dir)
    with open(set_dir / "manifest.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["image", "mask"], ["a.png", "b.png"]])
    with pytest.raises(ValueError, match="columns must start with"):
        segdata.read_synthetic_set(set_dir)
    with pytest.raises(FileNotFoundError, match="02_generation"):
        segdata.read_synthetic_set(tmp_path / "empty")


def test_masks_stored_as_zero_one(real_root):
    from PIL import Image

    pair = segdata.list_real_pairs(real_root)[0]
    as_255 = segdata.read_pair(pair, 32)[1]
    Image.fromarray((np.asarray(Image.open(pair.mask)) > 127).astype(np.uint8)).save(pair.mask)
    assert np.array_equal(segdata.read_pair(pair, 32)[1], as_255) and as_255.any()

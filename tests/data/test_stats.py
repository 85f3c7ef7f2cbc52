"""Polyp-share statistics and picking images across the share range."""

import pytest
from folder_fakes import fake_image, fake_mask, save_image

from singanseg_lib import data


def test_summary_and_pick_by_share(tmp_path):
    for i, x1 in enumerate([10, 20, 40]):  # shares 150, 300, 600 of 1,200 pixels
        save_image(fake_image(seed=i), tmp_path / "images" / f"p{i}.png")
        save_image(fake_mask(box=(0, 0, x1, 15)), tmp_path / "masks" / f"p{i}.png")
    ds = data.load_dataset(tmp_path, progress=False)
    stats = data.summarize(ds)
    assert (stats["share_min"], stats["share_median"], stats["share_max"]) == (0.125, 0.25, 0.5)
    assert stats["most_common_size"] == "40x30 (3)"
    table = data.summary_table({"tiny": ds})
    assert table.loc["polyp share mean (%)", "tiny"] == pytest.approx(100 * 1050 / 3600, abs=0.01)
    assert [p.id for p in data.pick_by_share(ds, 2)] == ["p0", "p2"]
    assert len(data.pick_by_share(ds, 10)) == 3

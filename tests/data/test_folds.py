"""k-fold splits: deterministic, disjoint, covering; saved and loaded with their checks."""
import json

import pytest

from singanseg_lib import data


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

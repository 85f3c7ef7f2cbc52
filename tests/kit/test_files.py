import json
import os

import pytest

from singanseg_lib.kit import files


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "out.json"
    files.atomic_write_json(p, {"x": 1})
    files.atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert os.listdir(p.parent) == ["out.json"]  # no temporary files left behind


def test_failed_write_keeps_old_file_and_leaves_no_partial(tmp_path):
    p = tmp_path / "out.txt"
    files.atomic_write_text(p, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_no_overwrite_unless_asked(tmp_path):
    p = tmp_path / "out.txt"
    files.atomic_write_text(p, "first")
    with pytest.raises(files.OutputExistsError, match="out.txt"):
        files.atomic_write_text(p, "second", overwrite=False)
    assert p.read_text() == "first"


def test_json_of_numpy_and_torch_values(tmp_path):
    import numpy as np
    import torch

    p = files.atomic_write_json(tmp_path / "m.json", {"a": np.float32(0.5), "b": torch.tensor(3), "c": np.arange(3)})
    assert json.loads(p.read_text()) == {"a": 0.5, "b": 3, "c": [0, 1, 2]}


def test_read_json_names_damaged_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        files.read_json(p)


def test_sha256sums_roundtrip(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"abc")
    digest = files.sha256_file(tmp_path / "f.bin")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    (tmp_path / "SUMS").write_text(f"{digest}  dir/f.bin\n")
    assert files.read_sha256sums(tmp_path / "SUMS") == {"dir/f.bin": digest}
    (tmp_path / "BAD").write_text("nothex dir/f.bin\n")
    with pytest.raises(ValueError, match="BAD:1"):
        files.read_sha256sums(tmp_path / "BAD")


def test_written_files_get_normal_permissions(tmp_path):
    p = files.atomic_write_text(tmp_path / "shared.txt", "x")
    assert p.stat().st_mode & 0o777 == 0o666 & ~files._UMASK

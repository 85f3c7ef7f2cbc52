"""Kvasir-SEG: the bundled sample (checksums, selection), the full set's statistics, and its download:
verification by content, complete-or-absent installs, offline help.

Most tests serve archives built from the bundled sample and point the kit's sha256 list at the
sample's files (the real list names 2,000 files; the sample has 72 of them). The last tests use
the real list and the real full set where shared/ is reachable.
"""
import importlib.util
import shutil
import uuid
import zipfile

import pytest
from conftest import REPO
from loopback import closed_port_url, serve

from singanseg_lib import cli, data
from singanseg_lib.data import kvasir
from singanseg_lib.kit.download import DownloadError, UnsafeArchiveError
from singanseg_lib.kit.files import OutputExistsError, read_json, read_sha256sums, sha256_file


@pytest.fixture
def sample_list(tmp_path, monkeypatch):
    """The kit's sha256 list replaced by the sample's 72 files; returns {name: sha256}."""
    listing = tmp_path / "list.txt"
    shutil.copyfile(data.sample_dir() / "SHA256SUMS", listing)
    monkeypatch.setattr(kvasir, "SHA256_LIST", listing)
    return read_sha256sums(listing)


def _zip_kvasir_layout(path, *, drop=None, extra=None):
    root = data.sample_dir()
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(root.rglob("*.jpg")):
            name = str(f.relative_to(root))
            if name != drop:
                zf.write(f, f"Kvasir-SEG/{name}")
        for name, payload in (extra or {}).items():
            zf.writestr(name, payload)
    return path


def _zip_hyperkvasir_layout(path):
    """HyperKvasir-style: segmented-images/{images,masks}/ with other file names and a bounding-box file."""
    root = data.sample_dir()
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(root.rglob("*.jpg")):
            zf.write(f, f"segmented-images/{f.parent.name}/{uuid.uuid4()}.jpg")
        zf.writestr("segmented-images/bounding-boxes.json", "{}")
    return path


def _installed_matches_sample(dest, expected):
    assert kvasir.is_complete(dest)
    for name, digest in expected.items():
        assert sha256_file(dest / name) == digest
    ds = data.load_dataset(dest, progress=False)
    assert len(ds) == 36


def test_download_install_from_loopback_server(tmp_path, sample_list):
    body = _zip_kvasir_layout(tmp_path / "k.zip").read_bytes()
    dest, downloads = tmp_path / "data" / "kvasir-seg", tmp_path / "downloads"
    with serve({"/downloads/kvasir-seg.zip": body}) as srv:
        out = kvasir.download_kvasir(dest, url=srv.url("/downloads/kvasir-seg.zip"), downloads=downloads,
                                     progress=False)
        assert out == dest
        _installed_matches_sample(dest, sample_list)
        assert list(downloads.iterdir()) == [], "the archive is deleted once installed"
        stamp = read_json(dest / kvasir.STAMP)
        assert stamp["files"] == 72 and stamp["source"] == srv.url("/downloads/kvasir-seg.zip")
        n = len(srv.requests)
        kvasir.download_kvasir(dest, url=srv.url("/downloads/kvasir-seg.zip"), downloads=downloads, progress=False)
        assert len(srv.requests) == n, "a complete data set is not downloaded again"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["kvasir-seg"], "no staging folders left"


def test_hyperkvasir_names_are_matched_by_content(tmp_path, sample_list):
    archive = _zip_hyperkvasir_layout(tmp_path / "hyper-kvasir-segmented-images.zip")
    dest = kvasir.install_kvasir(archive, tmp_path / "kvasir-seg", progress=False)
    _installed_matches_sample(dest, sample_list)
    assert sorted(p.name for p in dest.iterdir()) == [kvasir.STAMP, "images", "masks"]


def test_interrupted_download_leaves_nothing_that_looks_complete_then_resumes(tmp_path, sample_list):
    body = _zip_kvasir_layout(tmp_path / "k.zip").read_bytes()
    dest, downloads = tmp_path / "kvasir-seg", tmp_path / "downloads"
    with serve({"/k.zip": body}) as srv:
        srv.cut_after["/k.zip"] = len(body) // 2
        with pytest.raises(DownloadError, match="run again to resume"):
            kvasir.download_kvasir(dest, url=srv.url("/k.zip"), downloads=downloads, progress=False)
        assert not dest.exists() and not kvasir.is_complete(dest)
        with pytest.raises(FileNotFoundError, match="singanseg data download"):
            kvasir.require_complete(dest)
        kvasir.download_kvasir(dest, url=srv.url("/k.zip"), downloads=downloads, progress=False)
        assert srv.requests[-1][1] == f"bytes={len(body) // 2}-"
    _installed_matches_sample(dest, sample_list)


def test_interrupted_install_leaves_nothing_that_looks_complete(tmp_path, sample_list, monkeypatch):
    archive = _zip_kvasir_layout(tmp_path / "k.zip")
    real_write = kvasir._write_stamp

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after every file was placed, before the stamp

    monkeypatch.setattr(kvasir, "_write_stamp", killed)
    with pytest.raises(KeyboardInterrupt):
        kvasir.install_kvasir(archive, tmp_path / "kvasir-seg", progress=False)
    assert not (tmp_path / "kvasir-seg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.zip", "list.txt"], "staging removed"
    monkeypatch.setattr(kvasir, "_write_stamp", real_write)
    kvasir.install_kvasir(archive, tmp_path / "kvasir-seg", progress=False)
    _installed_matches_sample(tmp_path / "kvasir-seg", sample_list)


@pytest.mark.parametrize("case", ["missing_file", "corrupted", "escaping"])
def test_bad_archives_from_the_server_install_nothing(tmp_path, sample_list, case):
    if case == "missing_file":
        body = _zip_kvasir_layout(tmp_path / "k.zip", drop="masks/" + next(iter(sample_list))[7:]).read_bytes()
        error, match = ValueError, "1 of the 72 Kvasir-SEG files are missing or differ"
    elif case == "corrupted":
        raw = bytearray(_zip_kvasir_layout(tmp_path / "k.zip").read_bytes())
        raw[5000] ^= 0xFF  # inside the first image: its CRC fails
        body, error, match = bytes(raw), ValueError, "damaged archive"
    else:
        body = _zip_kvasir_layout(tmp_path / "k.zip", extra={"../../evil.txt": "x"}).read_bytes()
        error, match = UnsafeArchiveError, "evil.txt"
    dest, downloads = tmp_path / "out" / "kvasir-seg", tmp_path / "downloads"
    with serve({"/k.zip": body}) as srv:
        with pytest.raises(error, match=match) as err:
            kvasir.download_kvasir(dest, url=srv.url("/k.zip"), downloads=downloads, progress=False)
    assert "deleted; run again" in str(err.value)
    assert not dest.exists() and list(dest.parent.iterdir()) == [] and list(downloads.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


def test_offline_fails_fast_saying_how_to_place_the_data(tmp_path, sample_list, capsys):
    url = closed_port_url("/downloads/kvasir-seg.zip")
    with pytest.raises(DownloadError) as err:
        kvasir.download_kvasir(tmp_path / "kvasir-seg", url=url, downloads=tmp_path / "dl", progress=False)
    text = str(err.value)
    assert url in text and "--archive path/to/kvasir-seg.zip" in text and str(tmp_path / "kvasir-seg") in text
    code = cli.main(["data", "download", "--dest", str(tmp_path / "kvasir-seg"), "--url", url, "--no-progress"])
    assert code == 1 and url in capsys.readouterr().err


def test_folder_placed_by_hand_is_verified_in_place(tmp_path, sample_list):
    dest = tmp_path / "kvasir-seg"
    shutil.copytree(data.sample_dir(), dest)
    victim = dest / "masks" / sorted((dest / "masks").iterdir())[0].name
    victim.write_bytes(victim.read_bytes()[:-10])
    with pytest.raises(ValueError, match=f"1 of 72 files are missing or differ \\(e.g. masks/{victim.name}"):
        kvasir.download_kvasir(dest, url=closed_port_url(), progress=False)
    assert not kvasir.is_complete(dest)
    shutil.copyfile(data.sample_dir() / "masks" / victim.name, victim)
    kvasir.download_kvasir(dest, url=closed_port_url(), progress=False)  # no network needed
    _installed_matches_sample(dest, sample_list)


def test_archive_option_and_overwrite(tmp_path, sample_list, capsys):
    archive = _zip_hyperkvasir_layout(tmp_path / "h.zip")
    dest = tmp_path / "kvasir-seg"
    (dest / "images").mkdir(parents=True)
    (dest / "images" / "mine.jpg").write_bytes(b"someone else's data")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        kvasir.download_kvasir(dest, archive=archive, progress=False)
    assert (dest / "images" / "mine.jpg").exists()
    assert cli.main(["data", "download", "--archive", str(archive), "--dest", str(dest), "--overwrite",
                     "--no-progress"]) == 0
    assert "is now complete: 72 files verified" in capsys.readouterr().out
    assert not (dest / "images" / "mine.jpg").exists()
    _installed_matches_sample(dest, sample_list)
    # the unpacked folder works as well as the archive
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    kvasir.install_kvasir(unpacked, tmp_path / "again", progress=False)
    _installed_matches_sample(tmp_path / "again", sample_list)


def test_stamp_of_another_list_is_not_complete(tmp_path, sample_list):
    dest = kvasir.install_kvasir(_zip_kvasir_layout(tmp_path / "k.zip"), tmp_path / "kvasir-seg", progress=False)
    assert kvasir.is_complete(dest)
    kvasir.SHA256_LIST.write_text(kvasir.SHA256_LIST.read_text() + f"{'0' * 64}  masks/new.jpg\n")
    assert not kvasir.is_complete(dest)


# --- the real list ---------------------------------------------------------------------------------

def test_shipped_list_names_1000_pairs_and_the_sample_is_official():
    expected = kvasir.expected_files()
    images = {n[7:] for n in expected if n.startswith("images/")}
    masks = {n[6:] for n in expected if n.startswith("masks/")}
    assert len(expected) == 2000 and images == masks and len(images) == 1000
    assert len(set(expected.values())) == 2000
    sample = read_sha256sums(data.sample_dir() / "SHA256SUMS")
    assert all(expected[name] == digest for name, digest in sample.items())


def test_real_full_set_verifies(tmp_path, full_kvasir):
    dest = kvasir.install_kvasir(full_kvasir, tmp_path / "kvasir-seg", progress=False)
    assert kvasir.is_complete(dest) and read_json(dest / kvasir.STAMP)["files"] == 2000
    assert sorted(p.name for p in (dest / "images").iterdir()) == sorted(p.name for p in (full_kvasir / "images").iterdir())


# --- the bundled sample and the full set's statistics ------------------------------------------------

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

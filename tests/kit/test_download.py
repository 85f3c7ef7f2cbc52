"""Resumable atomic downloads against a loopback server, and safe archive extraction."""
import hashlib
import io
import os
import stat
import tarfile
import zipfile

import pytest
from loopback import closed_port_url, serve

from singanseg_lib.kit.download import DownloadError, UnsafeArchiveError, download, extract_archive
from singanseg_lib.kit.files import OutputExistsError

BODY = os.urandom(300_000)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".partial" in p.name or ".old-" in p.name)


def test_download_whole_file(tmp_path):
    with serve({"/a.bin": BODY}) as srv:
        out = download(srv.url("/a.bin"), tmp_path / "a.bin", progress=False)
    assert out.read_bytes() == BODY
    assert _leftovers(tmp_path) == []


def test_interrupted_download_keeps_partial_and_resumes_with_range(tmp_path):
    dest = tmp_path / "a.bin"
    with serve({"/a.bin": BODY}) as srv:
        srv.cut_after["/a.bin"] = 100_000
        with pytest.raises(DownloadError, match="run again to resume") as err:
            download(srv.url("/a.bin"), dest, progress=False)
        assert srv.url("/a.bin") in str(err.value)
        assert not dest.exists(), "an interrupted download must not look complete"
        assert (tmp_path / "a.bin.partial").stat().st_size == 100_000
        download(srv.url("/a.bin"), dest, progress=False)
        assert srv.requests[-1] == ("/a.bin", "bytes=100000-"), "the rerun asked only for the missing bytes"
    assert dest.read_bytes() == BODY
    assert _leftovers(tmp_path) == []


def test_server_without_range_support_restarts_cleanly(tmp_path):
    dest = tmp_path / "a.bin"
    with serve({"/a.bin": BODY}) as srv:
        srv.cut_after["/a.bin"] = 50_000
        with pytest.raises(DownloadError):
            download(srv.url("/a.bin"), dest, progress=False)
        srv.ignore_range = True
        download(srv.url("/a.bin"), dest, progress=False)
    assert dest.read_bytes() == BODY  # not the first 50,000 bytes twice


def test_file_changed_on_server_is_not_spliced(tmp_path):
    dest = tmp_path / "a.bin"
    new = os.urandom(200_000)
    with serve({"/a.bin": BODY}) as srv:
        srv.cut_after["/a.bin"] = 50_000
        with pytest.raises(DownloadError):
            download(srv.url("/a.bin"), dest, progress=False)
        srv.files["/a.bin"] = new  # its ETag changes: If-Range makes the server send it whole
        download(srv.url("/a.bin"), dest, progress=False)
    assert dest.read_bytes() == new


def test_partial_that_is_already_whole_is_finished(tmp_path):
    dest = tmp_path / "a.bin"
    with serve({"/a.bin": BODY}) as srv:
        srv.cut_after["/a.bin"] = len(BODY) - 1
        with pytest.raises(DownloadError):
            download(srv.url("/a.bin"), dest, progress=False)
        (tmp_path / "a.bin.partial").write_bytes(BODY)  # e.g. the last byte landed after all
        download(srv.url("/a.bin"), dest, progress=False)  # the server answers 416
    assert dest.read_bytes() == BODY


def test_sha256_mismatch_discards_the_file(tmp_path):
    with serve({"/a.bin": BODY}) as srv:
        with pytest.raises(ValueError, match="sha256"):
            download(srv.url("/a.bin"), tmp_path / "a.bin", sha256="0" * 64, progress=False)
        assert not (tmp_path / "a.bin").exists() and _leftovers(tmp_path) == []
        good = download(srv.url("/a.bin"), tmp_path / "a.bin", sha256=hashlib.sha256(BODY).hexdigest(), progress=False)
    assert good.read_bytes() == BODY


def test_offline_and_missing_files_name_the_url(tmp_path):
    url = closed_port_url("/x.zip")
    with pytest.raises(DownloadError, match="could not reach " + url):
        download(url, tmp_path / "x.zip", progress=False)
    with serve({}) as srv:
        with pytest.raises(DownloadError, match="404") as err:
            download(srv.url("/nope.zip"), tmp_path / "x.zip", progress=False)
        assert srv.url("/nope.zip") in str(err.value)
    assert list(tmp_path.iterdir()) == []


# --- archives ------------------------------------------------------------------------------------

def _zip(path, entries: dict[str, bytes], *, symlink: str | None = None):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _tar(path, entries: dict[str, bytes], *, link: tuple[str, str] | None = None):
    with tarfile.open(path, "w:gz") as tf:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link[0])
            info.type, info.linkname = tarfile.SYMTYPE, link[1]
            tf.addfile(info)
    return path


GOOD = {"set/images/a.jpg": b"A" * 1000, "set/masks/a.jpg": b"M" * 500, "set/notes.txt": b"hi"}


@pytest.mark.parametrize("make", [_zip, _tar], ids=["zip", "tar.gz"])
def test_extract_good_archive(tmp_path, make):
    archive = make(tmp_path / "good.archive", GOOD)
    out = extract_archive(archive, tmp_path / "out", progress=False)
    assert {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()} == GOOD
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("evil", ["../evil.txt", "set/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt",
                                  "..\\evil.txt"])
def test_zip_entries_that_escape_are_refused_before_anything_is_written(tmp_path, evil):
    archive = _zip(tmp_path / "evil.zip", {**GOOD, evil: b"pwned"})
    (tmp_path / "work").mkdir()
    with pytest.raises(UnsafeArchiveError, match="refused"):
        extract_archive(archive, tmp_path / "work" / "out", progress=False)
    assert not (tmp_path / "work" / "out").exists() and list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_entry_refused(tmp_path):
    archive = _zip(tmp_path / "link.zip", GOOD, symlink="set/images/link.jpg")
    with pytest.raises(UnsafeArchiveError, match="symbolic link|a link"):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("entries,link", [({"../evil.txt": b"x"}, None), ({"/abs/evil.txt": b"x"}, None),
                                          ({}, ("set/link", "/etc/passwd"))], ids=["dotdot", "absolute", "symlink"])
def test_tar_unsafe_entries_refused(tmp_path, entries, link):
    archive = _tar(tmp_path / "evil.tar.gz", {**GOOD, **entries}, link=link)
    with pytest.raises(UnsafeArchiveError):
        extract_archive(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


@pytest.mark.parametrize("payload", [os.urandom(50_000), b"polyp " * 20_000], ids=["stored", "deflated"])
def test_corrupted_and_truncated_archives_raise_and_leave_nothing(tmp_path, payload):
    data = {"set/images/a.jpg": payload}
    raw = bytearray(_zip(tmp_path / "ok.zip", data).read_bytes())
    raw[30 + len("set/images/a.jpg")] ^= 0xFF  # the first byte of compressed data (after the local header)
    corrupted = tmp_path / "corrupted.zip"
    corrupted.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged archive"):
        extract_archive(corrupted, tmp_path / "out", progress=False)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(ValueError, match="not a zip or tar"):
        extract_archive(truncated, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []


def test_verify_rejection_and_existing_target(tmp_path):
    archive = _zip(tmp_path / "good.zip", GOOD)

    def reject(folder):
        assert (folder / "set" / "images" / "a.jpg").exists()  # called on the complete unpacked folder
        raise ValueError("not the data set we want")

    with pytest.raises(ValueError, match="not the data set"):
        extract_archive(archive, tmp_path / "out", verify=reject, progress=False)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError):
        extract_archive(archive, tmp_path / "out", progress=False)
    extract_archive(archive, tmp_path / "out", overwrite=True, progress=False)
    assert not (tmp_path / "out" / "old.txt").exists() and (tmp_path / "out" / "set" / "notes.txt").exists()
    assert _leftovers(tmp_path) == []


def test_zip_cut_off_after_a_stored_inner_zip_is_refused(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:  # like a torch .pth file: itself a zip
        zf.writestr("Gs/data.pkl", os.urandom(2000))
    inner = inner.getvalue()
    whole = io.BytesIO()
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("set/model/Gs.pth", inner)
        zf.writestr("set/model/Zs.pth", os.urandom(3000))
    whole = whole.getvalue()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: whole.index(inner) + len(inner)])  # ends exactly where the inner zip ends
    assert zipfile.is_zipfile(cut) and zipfile.ZipFile(cut).namelist() == ["Gs/data.pkl"]  # the trap
    with pytest.raises(ValueError, match="cut.zip: not a complete zip archive.*stored inside it"):
        extract_archive(cut, tmp_path / "work" / "out", progress=False)
    assert not (tmp_path / "work").exists()
    stub = tmp_path / "stub.zip"  # data before the first entry that is no zip header (self-extracting): kept
    stub.write_bytes(b"#!stub\n" * 10 + whole)
    out = extract_archive(stub, tmp_path / "out", progress=False)
    assert (out / "set" / "model" / "Gs.pth").read_bytes() == inner

"""Downloads that resume and never leave half a file; archives unpacked so nothing escapes the target.

:func:`download` streams a URL into ``<dest>.partial`` and renames it to ``dest`` only when every
byte has arrived (and, when given, the sha256 agrees). An interrupted transfer keeps the partial
file; the next call asks the server for the rest (HTTP ``Range``, guarded by ``If-Range`` so a
file changed on the server starts over instead of being spliced).

:func:`extract_archive` unpacks a zip or tar archive into a temporary sibling of the target and
renames it into place only when every entry is written (and an optional ``verify`` accepted it).
Before anything is written, every entry is checked: absolute paths, ``..`` components, links and
device files are refused with :class:`UnsafeArchiveError` naming the entry; a zip cut off where
an inner zip's directory happens to end (stored ``.pth`` files are zips) is refused as incomplete.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from singanseg_lib.kit.files import OutputExistsError, atomic_write_json, read_json, sha256_file

__all__ = ["DownloadError", "UnsafeArchiveError", "download", "extract_archive", "replace_folder"]

CHUNK = 1 << 20
MAX_UNPACKED_BYTES = 20 * 2**30  # refuse archives that claim more (zip bombs); Kvasir-SEG unpacks to 55 MB
_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, socket.timeout, ConnectionError, TimeoutError)


class DownloadError(ConnectionError):
    """A download failed; the message names the URL and whether a rerun resumes."""


class UnsafeArchiveError(ValueError):
    """An archive entry would land outside the target folder (or is a link or device)."""


# --- download ------------------------------------------------------------------------------------

def _partial_paths(dest: Path) -> tuple[Path, Path]:
    return dest.with_name(dest.name + ".partial"), dest.with_name(dest.name + ".partial.json")


def _validator(headers) -> str | None:
    """What ``If-Range`` may quote: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified")


def download(url: str, dest: str | Path, *, sha256: str | None = None, timeout: float = 30.0,
             progress: bool = True) -> Path:
    """Fetch ``url`` into ``dest`` (atomically, resuming a previous partial transfer); return ``dest``.

    An existing ``dest`` is returned as is (checked against ``sha256`` when given). Network
    failures raise :class:`DownloadError` naming the URL; a wrong sha256 raises ValueError and
    discards the partial file, so the next call starts afresh.
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    if dest.exists():
        if sha256 and sha256_file(dest) != sha256.lower():
            raise ValueError(f"{dest} exists but its sha256 is not {sha256}; delete it to download {url} again")
        return dest
    partial, meta = _partial_paths(dest)
    have = partial.stat().st_size if partial.exists() else 0
    try:
        saved = read_json(meta) if have and meta.exists() else {}
    except ValueError:
        saved = {}  # a damaged record: the partial file's origin is unknown
    if have and saved.get("url") != url:
        have = 0  # a partial file of another URL (or of unknown origin): start over
    headers = {"User-Agent": "singanseg-kit"}
    if have:
        headers["Range"] = f"bytes={have}-"
        if saved.get("validator"):
            headers["If-Range"] = saved["validator"]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing after byte `have`: complete if the server's size says so
            total = re.match(r"bytes \*/(\d+)", e.headers.get("Content-Range", "") or "")
            if total and int(total.group(1)) == have:
                return _finish(partial, meta, dest, url, sha256)
            partial.unlink()
            meta.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the server no longer has the bytes after {have}; "
                                "the partial file was removed, run again to download it afresh") from None
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (*_NETWORK_ERRORS, OSError) as e:
        raise DownloadError(f"could not reach {url}: {getattr(e, 'reason', e)}") from None
    with response:
        resumed = have > 0 and response.status == 206
        start = 0
        if resumed:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            start = int(match.group(1)) if match else -1
            if start != have:
                raise DownloadError(f"{url}: asked for bytes from {have}, the server sent "
                                    f"{response.headers.get('Content-Range')!r}; run again")
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        dest.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(meta, {"url": url, "validator": _validator(response.headers), "total": total})
        with open(partial, "ab" if resumed else "wb") as fh, \
                tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
            try:
                while block := response.read(CHUNK):
                    fh.write(block)
                    bar.update(len(block))
            except (*_NETWORK_ERRORS, OSError) as e:
                raise DownloadError(f"{url}: interrupted after {fh.tell()} bytes ({e}); they are kept in "
                                    f"{partial.name}: run again to resume") from None
            finally:
                fh.flush()
                os.fsync(fh.fileno())
    got = partial.stat().st_size
    if total is not None and got != total:
        raise DownloadError(f"{url}: got {got} of {total} bytes (kept in {partial.name}); run again to resume")
    return _finish(partial, meta, dest, url, sha256)


def _finish(partial: Path, meta: Path, dest: Path, url: str, sha256: str | None) -> Path:
    if sha256:
        actual = sha256_file(partial)
        if actual != sha256.lower():
            partial.unlink()
            meta.unlink(missing_ok=True)
            raise ValueError(f"{url}: downloaded file has sha256 {actual}, expected {sha256}; discarded, "
                             "run again to download it afresh")
    os.replace(partial, dest)
    meta.unlink(missing_ok=True)
    return dest


# --- archives ------------------------------------------------------------------------------------

def _safe_name(name: str, archive: Path) -> PurePosixPath | None:
    """The entry's path relative to the target; None for the archive root; raises if it could escape."""
    text = name.replace("\\", "/")
    if "\x00" in text or text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        raise UnsafeArchiveError(f"{archive}: entry {name!r} has an absolute path; refused, nothing was unpacked")
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: entry {name!r} climbs out with '..'; refused, nothing was unpacked")
    return PurePosixPath(*parts) if parts else None


def _entries(kind: str, handle, archive: Path) -> list[tuple[PurePosixPath, bool, int, object]]:
    """(path, is_folder, size, info) of every entry, or UnsafeArchiveError for the first unsafe one."""
    entries = []
    for info in (handle.infolist() if kind == "zip" else handle.getmembers()):
        name = info.filename if kind == "zip" else info.name
        if kind == "zip":
            link, odd = stat.S_ISLNK(info.external_attr >> 16), False
        else:
            link, odd = info.issym() or info.islnk(), not (info.isfile() or info.isdir())
        if link or odd:
            kind_text = "a link" if link else "not a plain file or folder"
            raise UnsafeArchiveError(f"{archive}: entry {name!r} is {kind_text}; refused, nothing was unpacked")
        rel = _safe_name(name, archive)
        if rel is not None:
            is_dir = info.is_dir() if kind == "zip" else info.isdir()
            entries.append((rel, is_dir, info.file_size if kind == "zip" else info.size, info))
    return entries


@contextlib.contextmanager
def _open_archive(archive: Path):
    """``with _open_archive(path) as (kind, handle)``: a zip or a tar, or ValueError naming the file."""
    if not archive.is_file():
        raise FileNotFoundError(f"{archive}: no such archive")
    try:
        if zipfile.is_zipfile(archive):
            kind, handle = "zip", zipfile.ZipFile(archive)
        elif tarfile.is_tarfile(archive):
            kind, handle = "tar", tarfile.open(archive, "r:*")
        else:
            raise ValueError(f"{archive}: not a zip or tar archive (damaged, or an incomplete download?)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{archive}: damaged archive ({e})") from None
    with handle:
        if kind == "zip":
            _refuse_cut_off_zip(handle, archive)
        yield kind, handle


def _refuse_cut_off_zip(handle: zipfile.ZipFile, archive: Path) -> None:
    """ValueError if the zip directory zipfile found belongs to a zip stored inside the archive.

    A cut-off archive of stored zips (e.g. torch ``.pth`` files) can end just after an inner
    file's directory; ``zipfile`` then reads that inner file as the whole archive. Its entries
    start well after byte 0 although byte 0 holds a local file header: a genuine archive's
    first entry is that header. (Data before a first entry that is *not* a zip header, as in
    self-extracting archives, is left alone, as ``zipfile`` does.)
    """
    offsets = [info.header_offset for info in handle.infolist()]
    if not offsets or min(offsets) == 0:
        return
    with open(archive, "rb") as fh:
        starts_with_entry = fh.read(4) == b"PK\x03\x04"
    if starts_with_entry:
        raise ValueError(f"{archive}: not a complete zip archive (cut off: its last directory belongs to a file "
                         f"stored inside it at byte {min(offsets)}; an incomplete download?)")


def extract_archive(archive: str | Path, target: str | Path, *, overwrite: bool = False,
                    verify: Callable[[Path], None] | None = None, max_bytes: int = MAX_UNPACKED_BYTES,
                    progress: bool = True) -> Path:
    """Unpack ``archive`` (zip, tar, tar.gz/bz2/xz) into the folder ``target``; return it.

    Entries are checked first (see the module docstring); then everything is written into a
    temporary sibling ``.<target>.partial-*`` and renamed to ``target`` after ``verify(folder)``
    (if given) returned without raising. A damaged archive raises ValueError naming it; an
    existing ``target`` raises :class:`OutputExistsError` unless ``overwrite``.
    """
    from tqdm.auto import tqdm

    archive, target = Path(archive), Path(target)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"{target} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    with _open_archive(archive) as (kind, handle):
        try:
            entries = _entries(kind, handle, archive)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError) as e:
            raise ValueError(f"{archive}: damaged archive ({e})") from None
        claimed = sum(size for _, _, size, _ in entries)
        if claimed > max_bytes:
            raise ValueError(f"{archive}: claims {claimed} unpacked bytes (limit {max_bytes}); refused")
        target.parent.mkdir(parents=True, exist_ok=True)  # only now: a refused archive leaves no folder behind
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            with tqdm(total=claimed, unit="B", unit_scale=True, desc=f"unpacking {archive.name}",
                      disable=not progress) as bar:
                for rel, is_dir, size, info in entries:
                    out = tmp.joinpath(*rel.parts)
                    if is_dir:
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with (handle.open(info) if kind == "zip" else handle.extractfile(info)) as src, \
                                open(out, "wb") as dst:
                            shutil.copyfileobj(src, dst, CHUNK)
                    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as e:
                        raise ValueError(f"{archive}: damaged archive, entry {str(rel)!r} unreadable ({e})") from None
                    bar.update(size)
            if verify is not None:
                verify(tmp)
            replace_folder(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def replace_folder(folder: Path, target: Path) -> None:
    """Rename ``folder`` to ``target``; an old ``target`` is moved aside first and removed after."""
    if not target.exists():
        os.rename(folder, target)
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent)) / "old"
    os.rename(target, aside)
    os.rename(folder, target)
    shutil.rmtree(aside.parent, ignore_errors=True)

"""The full Kvasir-SEG data set: official downloads, verification of every file, a folder that is complete or absent.

Kvasir-SEG (Jha et al., MMM 2020) and HyperKvasir's segmented-images (Borgli et al., Sci Data 2020)
hold the same 1,000 image/mask pairs (docs/algorithm.md §1.1). Either archive works: every file
is matched by its sha256 against the list shipped in ``resources/kvasir_seg_sha256.txt`` (the
official Kvasir-SEG release), so the installed folder always has Kvasir-SEG's layout and names,
``<dest>/images/<id>.jpg`` and ``<dest>/masks/<id>.jpg``, whatever the archive called them.

The folder is assembled in a temporary sibling of ``dest`` and renamed into place only when all
2,000 files verify; the stamp file :data:`STAMP` is written into it last. :func:`is_complete`
looks for that stamp, so an interrupted download or unpacking never looks like a data set. The
archive itself downloads into ``data/downloads/`` through a resumable ``.partial`` file.
Terms: research and educational use; commercial use needs permission; cite both papers
(``data/README.md``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from singanseg_lib import __version__
from singanseg_lib.kit.download import DownloadError, download, extract_archive, replace_folder
from singanseg_lib.kit.files import OutputExistsError, atomic_write_json, read_json, read_sha256sums, sha256_file
from singanseg_lib.kit.paths import kit_data_dir, resource

__all__ = ["SOURCES", "DEFAULT_DEST", "STAMP", "expected_files", "is_complete", "require_complete",
           "install_kvasir", "download_kvasir"]


@dataclass(frozen=True)
class Source:
    url: str
    archive: str   # file name in data/downloads/
    where: str     # where the URL comes from


SOURCES = {
    "kvasir": Source("https://datasets.simula.no/downloads/kvasir-seg.zip", "kvasir-seg.zip",
                     "the Kvasir-SEG page, https://datasets.simula.no/kvasir-seg/"),
    # The HyperKvasir page (https://datasets.simula.no/hyper-kvasir/) links its parts as separate
    # zips; this is the segmented-images part (OSF mirror of the whole set: https://osf.io/mh9sj/).
    "hyperkvasir": Source("https://datasets.simula.no/downloads/hyper-kvasir/hyper-kvasir-segmented-images.zip",
                          "hyper-kvasir-segmented-images.zip", "the HyperKvasir page, https://datasets.simula.no/hyper-kvasir/"),
}
DEFAULT_DEST = kit_data_dir() / "kvasir-seg"
DOWNLOADS = kit_data_dir() / "downloads"
SHA256_LIST = resource("kvasir_seg_sha256.txt")
STAMP = ".singanseg-complete.json"


def expected_files() -> dict[str, str]:
    """{``images/<id>.jpg`` or ``masks/<id>.jpg``: sha256} for the 2,000 files of Kvasir-SEG."""
    return read_sha256sums(SHA256_LIST)


def is_complete(dest: str | Path = DEFAULT_DEST) -> bool:
    """Whether ``dest`` holds a verified Kvasir-SEG (its stamp is there and names the current list)."""
    stamp = Path(dest) / STAMP
    if not stamp.is_file():
        return False
    try:
        record = read_json(stamp)
    except ValueError:
        return False
    return record.get("list_sha256") == sha256_file(SHA256_LIST) and record.get("files") == len(expected_files())


def require_complete(dest: str | Path = DEFAULT_DEST) -> Path:
    """``dest`` if it holds the verified full set, else FileNotFoundError saying how to get it."""
    dest = Path(dest)
    if not is_complete(dest):
        raise FileNotFoundError(f"the full Kvasir-SEG is not at {dest} (or not verified): run `singanseg data "
                                f"download` (offline: `singanseg data download --archive kvasir-seg.zip`)")
    return dest


def _hash_files(root: Path, *, progress: bool) -> dict[str, Path]:
    """{sha256: path} of every regular file under ``root`` (links are not followed)."""
    from tqdm.auto import tqdm

    paths = [Path(d) / f for d, _, names in os.walk(root) for f in names if not (Path(d) / f).is_symlink()]
    return {sha256_file(p): p for p in tqdm(sorted(paths), desc="verifying", unit="file", disable=not progress)}


def _assemble(found: dict[str, Path], expected: dict[str, str], out: Path, *, move: bool, origin: str) -> None:
    """Put every expected file into ``out`` under its Kvasir-SEG name, or raise naming what is missing."""
    missing = [name for name, digest in expected.items() if digest not in found]
    if missing:
        unknown = len(set(found) - set(expected.values()))
        raise ValueError(f"{origin}: {len(missing)} of the {len(expected)} Kvasir-SEG files are missing or differ "
                         f"(e.g. {', '.join(missing[:3])}); {unknown} file(s) in it match none of the expected "
                         "sha256. Is it the complete Kvasir-SEG or HyperKvasir segmented-images archive?")
    for name, digest in expected.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        (os.replace if move else shutil.copyfile)(found[digest], target)
    _write_stamp(out, origin)


def _write_stamp(folder: Path, origin: str) -> None:
    """Written last: its presence is what "complete" means."""
    atomic_write_json(folder / STAMP, {
        "dataset": "Kvasir-SEG", "files": len(expected_files()), "source": origin,
        "list_sha256": sha256_file(SHA256_LIST), "verified": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "kit": __version__})


def install_kvasir(source: str | Path, dest: str | Path = DEFAULT_DEST, *, overwrite: bool = False,
                   progress: bool = True, origin: str | None = None) -> Path:
    """Build the verified data set at ``dest`` from an archive (zip/tar) or an unpacked folder.

    The source may use Kvasir-SEG's or HyperKvasir's names and layout; files are matched by
    content. ``dest`` appears only when complete; an existing ``dest`` raises
    :class:`OutputExistsError` unless ``overwrite``. ``origin`` (default: the source path) is
    recorded in the stamp.
    """
    source, dest = Path(source), Path(dest)
    if dest.exists() and not overwrite:
        raise OutputExistsError(f"{dest} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    if not source.exists():
        raise FileNotFoundError(f"{source}: no such archive or folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        if source.is_dir():
            root, move = source, False
        else:
            root, move = extract_archive(source, staging / "unpacked", progress=progress), True
        found = _hash_files(root, progress=progress)
        _assemble(found, expected_files(), staging / "kvasir-seg", move=move, origin=origin or str(source))
        replace_folder(staging / "kvasir-seg", dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _offline_help(source: Source, dest: Path, error: Exception) -> DownloadError:
    dest_option = "" if dest == DEFAULT_DEST else f" --dest {dest}"
    return DownloadError(
        f"{error}\nThe Kvasir-SEG download from {source.url} (from {source.where}) failed. Without internet here, "
        f"fetch that file on another machine, then either\n"
        f"  singanseg data download --archive path/to/{source.archive}{dest_option}   (the zip, or its unpacked folder)\n"
        f"or put the unpacked Kvasir-SEG (images/ + masks/) at {dest} and run `singanseg data download` to verify it.")


def download_kvasir(dest: str | Path = DEFAULT_DEST, *, source: str = "kvasir", archive: str | Path | None = None,
                    overwrite: bool = False, keep_archive: bool = False, downloads: str | Path = DOWNLOADS,
                    url: str | None = None, progress: bool = True) -> Path:
    """Make ``dest`` the verified Kvasir-SEG; return it. Every step resumes or is skipped when done.

    - ``dest`` already complete: nothing to do (unless ``overwrite``);
    - ``dest`` not empty but without the stamp (placed by hand): verified where it is, then stamped
      (with ``archive`` or ``overwrite`` it is replaced instead, once the new set is complete);
    - ``archive`` given (a zip/tar, or an unpacked folder): installed from it, no network;
    - else the archive of ``source`` (``"kvasir"`` or ``"hyperkvasir"``, see :data:`SOURCES`; ``url``
      overrides its address) is downloaded into ``downloads`` (resuming a partial file), installed,
      and deleted unless ``keep_archive``. A downloaded archive that fails verification is deleted.
    """
    dest = Path(dest)
    if source not in SOURCES:
        raise KeyError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    if is_complete(dest) and not overwrite:
        return dest
    occupied = dest.is_dir() and any(dest.iterdir())
    if occupied and not overwrite:
        if archive is None:
            return _verify_in_place(dest, progress=progress)
        raise OutputExistsError(f"{dest} exists but is not a verified Kvasir-SEG; pass --overwrite to replace it "
                                f"with the set from {archive}")
    if archive is not None:
        return install_kvasir(archive, dest, overwrite=True, progress=progress)
    chosen = SOURCES[source]
    address = url or chosen.url
    try:
        path = download(address, Path(downloads) / chosen.archive, progress=progress)
    except DownloadError as e:
        raise _offline_help(Source(address, chosen.archive, chosen.where), dest, e) from None
    try:
        install_kvasir(path, dest, overwrite=True, progress=progress, origin=address)
    except ValueError as e:  # damaged, unsafe or not Kvasir-SEG: keep the error's type, add what happened
        path.unlink()
        e.args = (f"{e}\nThe downloaded {path.name} was deleted; run again to download it anew.",)
        raise
    if not keep_archive:
        path.unlink()
    return dest


def _verify_in_place(dest: Path, *, progress: bool) -> Path:
    """Stamp a hand-placed ``dest`` whose files are all Kvasir-SEG's, under their own names."""
    from tqdm.auto import tqdm

    expected = expected_files()
    bad = [name for name, digest in tqdm(expected.items(), desc=f"verifying {dest.name}", unit="file",
                                          disable=not progress)
           if not (dest / name).is_file() or sha256_file(dest / name) != digest]
    if bad:
        raise ValueError(f"{dest} exists but is not a complete Kvasir-SEG: {len(bad)} of {len(expected)} files are "
                         f"missing or differ (e.g. {', '.join(bad[:3])}). Remove it, pass --overwrite to download "
                         "anew, or give the archive or folder you have with --archive (any names, matched by content)")
    _write_stamp(dest, f"placed by hand at {dest}")
    return dest

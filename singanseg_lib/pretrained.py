"""The 1,000 published SinGAN-Seg generators: download, safe unpacking, import into the kit's format.

Thambawita et al. trained one generator per HyperKvasir polyp image (1,000 models, about 65
GPU-minutes each) and published them as four zip archives through the PyPI package
``singan-seg-polyp``. That package downloads them without checksums, unpacks them without path
checks and can only generate on CUDA. Here:

- :func:`download_published` fetches the archives (resuming an interrupted download), records
  the size and sha256 of every archive and of every file unpacked in ``manifest.json`` next to
  them, unpacks safely (no path leaves the destination, no links), and imports every model with
  :func:`singanseg_lib.reference.import_reference` (no pickled code runs);
- without internet it says which URL to fetch elsewhere and where to put the file
  (or ``--archive FILE``).

Layout under ``dest``: ``archives/`` (the zips and ``manifest.json``), ``reference/`` (unpacked
reference folders, one per image id), ``models/<image id>/`` (the kit's format).
"""
from __future__ import annotations

import http.client
import os
import shutil
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .files import atomic_path, atomic_write_json, read_json, sha256_file
from .reference import find_reference_folders, import_reference, is_imported_from

# From the package's own configuration: singan-seg-polyp 1.0.7 (PyPI sdist),
# singan_seg_polyp/config.yaml, keys links.link1..link4 and real_data_links. Addresses only.
PUBLISHED_URLS = {
    1: "https://www.dropbox.com/s/19xq87x4xanuy4t/TrainedModels_1_clean.zip?dl=1",
    2: "https://www.dropbox.com/s/0i7io4tkpoccmq4/TrainedModels_2_clean.zip?dl=1",
    3: "https://www.dropbox.com/s/hsdpkifid9prtst/TrainedModels_3_clean.zip?dl=1",
    4: "https://www.dropbox.com/s/hzu470zcmy5ygf1/TrainedModels_4_clean.zip?dl=1",
}
REAL_DATA_URLS = {
    "real_images": "https://www.dropbox.com/s/2hy9vn76olb46hy/real_images.zip?dl=1",
    "real_masks": "https://www.dropbox.com/s/5783y9n8b7nlz76/real_masks.zip?dl=1",
}
MANIFEST = "manifest.json"
MAX_UNPACKED_BYTES = 64 << 30  # refuse archives that claim more (a zip bomb, or not these archives)


def archive_name(url: str) -> str:
    """``TrainedModels_1_clean.zip`` from its Dropbox address."""
    return PurePosixPath(urllib.parse.urlsplit(url).path).name


# --- fetching and unpacking (minimal versions; see the report: download.py will replace these) ---

class DownloadInterrupted(ConnectionError):
    """The transfer stopped part-way; what arrived is kept in ``<file>.partial`` for the next try."""


def _fetch(url: str, dest: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` through ``dest.partial``, resuming what a previous try left."""
    from tqdm.auto import tqdm

    partial = dest.with_name(dest.name + ".partial")
    have = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to fetch: the partial file is complete
            os.replace(partial, dest)
            return dest
        raise ConnectionError(f"{url}: HTTP {e.code} {e.reason}") from None
    with resp:
        resumed = have > 0 and resp.status == 206
        if have and not resumed:
            have = 0  # the server ignored the Range header: start over
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(partial, "ab" if resumed else "wb") as fh, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
            try:
                while block := resp.read(1 << 20):
                    fh.write(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as e:
                raise DownloadInterrupted(f"{url}: download interrupted after {fh.tell()} bytes ({e!r}); "
                                          "run the command again to resume") from None
            fh.flush()
            os.fsync(fh.fileno())
    got = partial.stat().st_size
    if total is not None and got != total:
        raise DownloadInterrupted(f"{url}: got {got} of {total} bytes; run the command again to resume")
    os.replace(partial, dest)
    return dest


def _member_target(root: Path, info: zipfile.ZipInfo, archive: Path) -> Path | None:
    """Where a zip entry may go under ``root``; None for folders; raises for anything unsafe."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    parts = PurePosixPath(name).parts
    if (name.startswith("/") or (parts and ":" in parts[0]) or ".." in parts or not parts
            or stat.S_ISLNK(mode)):
        raise ValueError(f"{archive}: unsafe entry {info.filename!r} (absolute path, '..' or a link); "
                         "the archive is damaged or malicious, nothing was unpacked")
    if name.endswith("/"):
        return None
    target = root.joinpath(*parts)
    if root.resolve() not in target.resolve().parents:
        raise ValueError(f"{archive}: entry {info.filename!r} would land outside {root}; nothing was unpacked")
    return target


def _unpack(archive: Path, root: Path) -> dict[str, dict]:
    """Unpack a zip into ``root`` after checking every entry; returns {relative path: {bytes, sha256}}."""
    if not zipfile.is_zipfile(archive):
        raise ValueError(f"{archive}: not a complete zip archive (truncated or damaged)")
    records = {}
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            # A cut-off archive of stored .pth files (themselves zips) can end in an inner file's
            # directory, which zipfile then reads as the archive: a real one starts at offset 0.
            if not infos or min(i.header_offset for i in infos) != 0:
                raise ValueError(f"{archive}: not a complete zip archive (truncated or damaged; its last "
                                 "directory belongs to a file inside it)")
            targets = [(_member_target(root, i, archive), i) for i in infos]
            claimed = sum(i.file_size for i in infos)
            if claimed > MAX_UNPACKED_BYTES:
                raise ValueError(f"{archive}: claims {claimed} unpacked bytes; refused")
            for target, info in targets:
                if target is None:
                    continue
                with zf.open(info) as src, atomic_path(target) as tmp, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                records[target.relative_to(root).as_posix()] = {"bytes": target.stat().st_size,
                                                                "sha256": sha256_file(target)}
    except (zipfile.BadZipFile, EOFError) as e:
        raise ValueError(f"{archive}: damaged zip archive ({e})") from None
    return records


# --- the published set -------------------------------------------------------------------------

@dataclass
class PublishedSet:
    """What :func:`download_published` left under ``dest``."""

    dest: Path
    archives: list[Path] = field(default_factory=list)
    models: list[Path] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.dest / "archives" / MANIFEST


def _read_manifest(path: Path) -> dict:
    return read_json(path) if path.exists() else {
        "about": "SinGAN-Seg published generators (Thambawita et al. 2022), as fetched by singanseg-kit; "
                 "URLs from singan-seg-polyp 1.0.7 config.yaml", "archives": {}, "files": {}}


def _offline_help(url: str, target: Path, error: Exception) -> ConnectionError:
    return ConnectionError(
        f"could not download {url} ({error}). Without internet here: fetch that address on another "
        f"machine and put the file at {target} (or pass --archive FILE; the name must stay {target.name}), "
        "then run the command again")


def obtain_archive(url: str, archives_dir: Path, *, given: Path | None = None,
                   progress: bool = True) -> tuple[Path, dict]:
    """The archive for ``url``: ``given`` (placed by hand), already downloaded, or fetched now."""
    name = archive_name(url)
    if given is not None:
        if not given.is_file():
            raise FileNotFoundError(f"{given}: no such archive")
        path = given
    else:
        path = archives_dir / name
        if not path.exists():
            archives_dir.mkdir(parents=True, exist_ok=True)
            try:
                _fetch(url, path, progress=progress)
            except DownloadInterrupted:
                raise
            except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # offline, refused, 404...
                raise _offline_help(url, path, getattr(e, "reason", e)) from None
    return path, {"url": url, "path": str(path), "bytes": path.stat().st_size, "sha256": sha256_file(path),
                  "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def download_published(dest: str | Path, *, parts: tuple[int, ...] = (1, 2, 3, 4), archives: tuple[Path, ...] = (),
                       real_images: bool = True, import_models: bool = True, urls: dict[str, str] | None = None,
                       overwrite: bool = False, progress: bool = True) -> PublishedSet:
    """Fetch, record, unpack and import published archives; every step resumes where it stopped.

    ``parts`` picks the model archives (1-4, about 250 models each); ``real_images`` also fetches
    the training images and masks (so imported models name their training pair). ``archives``
    are files placed by hand, matched to parts by name. ``urls`` overrides addresses by archive
    key (``"1"``..``"4"``, ``"real_images"``, ``"real_masks"``), for mirrors and tests.
    """
    dest = Path(dest)
    archives_dir = dest / "archives"
    wanted = {str(p): PUBLISHED_URLS[p] for p in parts if p in PUBLISHED_URLS}
    if len(wanted) != len(parts):
        raise ValueError(f"parts {parts}: the published set has parts {sorted(PUBLISHED_URLS)}")
    if real_images:
        wanted.update(REAL_DATA_URLS)
    wanted.update({k: v for k, v in (urls or {}).items() if k in wanted})
    by_name = {Path(a).name: Path(a) for a in archives}
    unknown = sorted(set(by_name) - {archive_name(u) for u in wanted.values()})
    if unknown:
        raise ValueError(f"--archive {', '.join(unknown)}: not one of the selected archives "
                         f"({', '.join(archive_name(u) for u in wanted.values())})")
    manifest_path = archives_dir / MANIFEST
    manifest = _read_manifest(manifest_path)
    result = PublishedSet(dest)
    for key, url in wanted.items():
        name = archive_name(url)
        done = manifest["archives"].get(name, {})
        path, record = obtain_archive(url, archives_dir, given=by_name.get(name), progress=progress)
        if done.get("sha256") != record["sha256"] or not done.get("unpacked"):
            try:
                files = _unpack(path, dest / "reference")
            except ValueError as e:
                if name in by_name:
                    raise ValueError(f"{e}; replace the file you gave with a good copy") from None
                aside = path.with_name(path.name + ".damaged")
                os.replace(path, aside)  # so that the next run downloads it anew
                raise ValueError(f"{e}; moved to {aside.name}, run again to download it anew") from None
            manifest["files"].update({f: {**r, "archive": name} for f, r in files.items()})
            manifest["archives"][name] = {**record, "key": key, "unpacked": True, "files": len(files)}
            atomic_write_json(manifest_path, manifest)
        result.archives.append(path)
    if import_models:
        result.models = import_folder(dest / "reference", dest / "models", weights=PUBLISHED_WEIGHTS,
                                      overwrite=overwrite, progress=progress)
    return result


def _real_pairs(root: Path) -> dict[str, tuple[Path, Path | None]]:
    """{image id: (image, mask)} from ``real_images/`` and ``real_masks/`` folders under ``root``."""
    images = {p.stem: p for d in root.rglob("real_images") if d.is_dir() for p in d.iterdir() if p.is_file()}
    masks = {p.stem: p for d in root.rglob("real_masks") if d.is_dir() for p in d.iterdir() if p.is_file()}
    return {k: (v, masks.get(k)) for k, v in images.items()}


PUBLISHED_WEIGHTS = ("published SinGAN-Seg generator (Thambawita et al. 2022, PyPI singan-seg-polyp 1.0.7 "
                     "archives), imported as stored")


def import_folder(root: str | Path, out_root: str | Path, *, weights: str | None = None, overwrite: bool = False,
                  progress: bool = True) -> list[Path]:
    """Import every reference model folder under ``root`` into ``out_root/<folder name>/``.

    Already imported models (same input files, by sha256) are skipped, so an interrupted import
    resumes. Training images named ``real_images/<id>.*`` (and masks ``real_masks/<id>.*``)
    under ``root`` are linked into each model's ``source``.
    """
    from tqdm.auto import tqdm

    root, out_root = Path(root), Path(out_root)
    folders = find_reference_folders(root)
    if not folders:
        raise FileNotFoundError(f"{root}: no reference model folder (one holding Gs.pth) found")
    names = [f.name for f in folders]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"{root}: several model folders are named {', '.join(dupes[:5])}; import them separately")
    pairs = _real_pairs(root)
    done = []
    for folder in tqdm(folders, desc="importing", unit="model", disable=not progress):
        out = out_root / folder.name
        if not overwrite and is_imported_from(out, folder):
            done.append(out)
            continue
        image, mask = pairs.get(folder.name, (None, None))
        done.append(import_reference(folder, out, image_path=image, mask_path=mask, weights=weights,
                                     overwrite=overwrite))
    return done


def published_model(image_id: str, dest: str | Path) -> Path:
    """The imported model of one HyperKvasir image id under ``dest`` (see :func:`download_published`)."""
    path = Path(dest) / "models" / image_id
    if not (path / "model.json").is_file():
        raise FileNotFoundError(f"{path}: no imported published model for image id {image_id!r}; run "
                                f"`singanseg pretrained download --dest {dest}` first (or --archive FILE offline)")
    return path

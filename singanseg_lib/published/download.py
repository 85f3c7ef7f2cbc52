"""The 1,000 published SinGAN-Seg generators: download, safe unpacking, import into the kit's format.

Thambawita et al. trained one generator per HyperKvasir polyp image (1,000 models, about 65
GPU-minutes each) and published them as four zip archives through the PyPI package
``singan-seg-polyp``. That package downloads them without checksums, unpacks them without path
checks and can only generate on CUDA. Here:

- :func:`download_published` fetches the archives with :func:`singanseg_lib.kit.download.download`
  (resuming an interrupted download), records the size and sha256 of every archive and of every
  file unpacked in ``manifest.json`` next to them, unpacks with
  :func:`singanseg_lib.kit.download.extract_archive` (no path leaves the destination, no links, a
  cut-off archive refused; a bad archive is moved aside), and imports every model with
  :func:`singanseg_lib.published.importer.import_reference` (no pickled code runs);
- without internet it says which URL to fetch elsewhere and where to put the file
  (or ``--archive FILE``).

Layout under ``dest``: ``archives/`` (the zips and ``manifest.json``, whose ``files`` are keyed by
their path inside the archive), ``reference/<archive name without .zip>/`` (each archive as
unpacked, holding one reference folder per image id), ``models/<image id>/`` (the kit's format).
"""
from __future__ import annotations

import os
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from singanseg_lib.kit.download import DownloadError, download, extract_archive
from singanseg_lib.kit.files import atomic_write_json, read_json, sha256_file
from singanseg_lib.published.importer import find_reference_folders, import_reference, is_imported_from

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


# --- unpacking ---------------------------------------------------------------------------------

def _unpack(archive: Path, target: Path, *, progress: bool) -> dict[str, dict]:
    """Unpack ``archive`` safely into the folder ``target``; returns {path in archive: {bytes, sha256}}.

    :func:`~singanseg_lib.kit.download.extract_archive` checks every entry first and renames the
    folder into place only when complete; the records are taken from that complete folder.
    An existing ``target`` is replaced: it is derived from the archive, and the manifest (not
    the folder) says whether this archive was unpacked.
    """
    records = {}

    def record(folder: Path) -> None:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            records[path.relative_to(folder).as_posix()] = {"bytes": path.stat().st_size,
                                                            "sha256": sha256_file(path)}

    extract_archive(archive, target, overwrite=True, verify=record, max_bytes=MAX_UNPACKED_BYTES,
                    progress=progress)
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


def _offline_help(url: str, target: Path, error: Exception) -> DownloadError:
    return DownloadError(
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
        try:  # an archive already there is returned as is; a partial one is resumed
            download(url, path, progress=progress)
        except DownloadError as e:  # offline, refused, 404, interrupted (its text says a rerun resumes)
            raise _offline_help(url, path, e) from None
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
                files = _unpack(path, dest / "reference" / Path(name).stem, progress=progress)
            except ValueError as e:  # damaged, cut off or unsafe: keep the error's type, add what happened
                if name in by_name:
                    e.args = (f"{e}; replace the file you gave with a good copy",)
                    raise
                aside = path.with_name(path.name + ".damaged")
                os.replace(path, aside)  # so that the next run downloads it anew
                e.args = (f"{e}; moved to {aside.name}, run again to download it anew",)
                raise
            # the folder was replaced: records of an earlier version of this archive are gone with it
            manifest["files"] = {f: r for f, r in manifest["files"].items() if r.get("archive") != name}
            manifest["files"].update({f: {**r, "archive": name} for f, r in files.items()})
            manifest["archives"][name] = {**record, "key": key, "unpacked": True, "files": len(files)}
            atomic_write_json(manifest_path, manifest)
        result.archives.append(path)
    if import_models:
        result.models = import_folder(dest / "reference", dest / "models", weights=PUBLISHED_WEIGHTS,
                                      overwrite=overwrite, progress=progress)
    return result


def _hidden(path: Path, root: Path) -> bool:
    """Under a dot folder, e.g. the ``.<name>.partial-*`` an unpacking killed part-way leaves behind."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _real_pairs(root: Path) -> dict[str, tuple[Path, Path | None]]:
    """{image id: (image, mask)} from ``real_images/`` and ``real_masks/`` folders under ``root``."""
    def files(kind):
        return {p.stem: p for d in root.rglob(kind) if d.is_dir() and not _hidden(d, root)
                for p in d.iterdir() if p.is_file()}

    images, masks = files("real_images"), files("real_masks")
    return {k: (v, masks.get(k)) for k, v in images.items()}


PUBLISHED_WEIGHTS = ("published SinGAN-Seg generator (Thambawita et al. 2022, PyPI singan-seg-polyp 1.0.7 "
                     "archives), imported as stored")


def import_folder(root: str | Path, out_root: str | Path, *, weights: str | None = None, overwrite: bool = False,
                  progress: bool = True) -> list[Path]:
    """Import every reference model folder under ``root`` into ``out_root/<folder name>/``.

    Already imported models (same input files, by sha256) are skipped, so an interrupted import
    resumes; folders under a dot folder (leftovers of a killed unpacking) are ignored. Training
    images named ``real_images/<id>.*`` (and masks ``real_masks/<id>.*``) under ``root`` are
    linked into each model's ``source``.
    """
    from tqdm.auto import tqdm

    root, out_root = Path(root), Path(out_root)
    folders = [f for f in find_reference_folders(root) if not _hidden(f, root)]
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

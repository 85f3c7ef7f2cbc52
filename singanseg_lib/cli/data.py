"""``singanseg data``: get the full Kvasir-SEG (``download``) and check any image/mask folder (``check``)."""
from __future__ import annotations

import warnings

from singanseg_lib import data
from singanseg_lib.data import kvasir
from singanseg_lib.kit.files import read_json


def register(sub) -> None:
    p = sub.add_parser("data", help="download Kvasir-SEG, check a data folder",
                       description="The data sets: the full Kvasir-SEG and any folder of images and masks.")
    verbs = p.add_subparsers(dest="data_command", metavar="VERB", required=True)

    d = verbs.add_parser("download", help="download, verify and install the full Kvasir-SEG",
                         description="Download Kvasir-SEG (or HyperKvasir's segmented images, the same 1,000 "
                                     "pairs), verify all 2,000 files against the sha256 list shipped with the kit "
                                     "and install them as DEST/images + DEST/masks. Resumes an interrupted "
                                     "download; the folder appears only when complete. Offline: --archive.")
    d.add_argument("--source", choices=sorted(kvasir.SOURCES), default="kvasir",
                   help="which official archive to download (default: kvasir)")
    d.add_argument("--archive", metavar="PATH",
                   help="install from this archive (zip/tar) or unpacked folder instead of downloading")
    d.add_argument("--dest", default=str(kvasir.DEFAULT_DEST), help=f"where it goes (default: {kvasir.DEFAULT_DEST})")
    d.add_argument("--url", help="download from this address instead of the official one (a mirror)")
    d.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive in data/downloads/")
    d.add_argument("--overwrite", action="store_true", help="replace DEST even if it is already complete")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=_download)

    c = verbs.add_parser("check", help="validate an image/mask folder and print its summary",
                         description="Pair the images and masks of FOLDER by file name (same name, or "
                                     "<name>_mask, _1stHO, _seg, ... : the convention most images pair under; "
                                     "--mask-pattern otherwise), check every pair (missing/extra masks, sizes, "
                                     "images too small for the pyramid, damaged files, grey or RGBA images, empty "
                                     "or non-binary masks) and print a summary. Exit status 1 when it has errors.")
    c.add_argument("folder", nargs="?", default="sample",
                   help="the folder, or 'sample' (the bundled sample, default) or 'kvasir' (the full set)")
    c.add_argument("--layout", choices=("auto", "subfolders", "flat"), default="auto",
                   help="images/ + masks/ subfolders, or <name>_mask files in one folder (default: auto)")
    c.add_argument("--mask-pattern", metavar="PATTERN",
                   help="the mask's file name, {stem} standing for the image's name without extension, e.g. "
                        "\"{stem}_1stHO.png\" (no extension: any image format; default: the known convention "
                        "most images pair under)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=_check)


def _download(args) -> int:
    done_before = kvasir.is_complete(args.dest) and not args.overwrite
    dest = kvasir.download_kvasir(args.dest, source=args.source, archive=args.archive, overwrite=args.overwrite,
                                  keep_archive=args.keep_archive, url=args.url, progress=not args.no_progress)
    record = read_json(dest / kvasir.STAMP)
    print(f"{dest}: Kvasir-SEG {'was already' if done_before else 'is now'} complete: {record['files']} files "
          f"verified on {record['verified']}, from {record['source']}")
    print("Terms: research and educational use only; cite Kvasir-SEG and HyperKvasir (data/README.md).")
    return 0


def _check(args) -> int:
    folder = data.resolve_data_dir(args.folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", data.DataWarning)  # printed below, without the source line
        ds = data.load_dataset(folder, layout=args.layout, mask_pattern=args.mask_pattern,
                               progress=not args.no_progress)
    for text in ds.warnings:
        print(f"warning: {text}")
    print(f"{folder}: {len(ds)} image/mask pairs ({ds.layout} layout, masks named "
          f"{data.pairing.describe(ds.mask_pattern)}), no errors")
    print(data.summary_table({folder.name: ds}).to_string())
    return 0

"""``singanseg pretrained``: the published SinGAN-Seg generators (download, safe import)."""
from __future__ import annotations

from pathlib import Path

from singanseg_lib.published.download import PUBLISHED_URLS, download_published, import_folder
from singanseg_lib.published.importer import import_reference


def register(sub) -> None:
    p = sub.add_parser("pretrained", help="download and import reference/published SinGAN-Seg generators",
                       description="Use generators trained by the reference SinGAN-Seg code: read their pickled "
                                   "checkpoints without executing them and convert them to the kit's format.")
    cmds = p.add_subparsers(dest="pretrained_command", metavar="ACTION")
    p.set_defaults(func=lambda args: p.print_help() or 2)

    imp = cmds.add_parser("import", help="convert a reference model folder (or a folder of them)",
                          description="REF_FOLDER holds Gs.pth, Zs.pth, NoiseAmp.pth, reals.pth: it becomes the "
                                      "kit model OUT_DIR. A folder of such folders becomes OUT_DIR/<name>/ each "
                                      "(already imported ones are skipped).")
    imp.add_argument("ref_folder", type=Path, metavar="REF_FOLDER")
    imp.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    imp.add_argument("--image", type=Path, help="the training image (single model): names it and gives its size")
    imp.add_argument("--mask", type=Path, help="the training mask (single model)")
    imp.add_argument("--original-size", type=int, nargs=2, metavar=("H", "W"),
                     help="size of the training image before the pyramid "
                          "(default: from --image, else the finest scale)")
    imp.add_argument("--overwrite", action="store_true", help="replace existing models")
    imp.add_argument("--no-progress", action="store_true")
    imp.set_defaults(func=_import)

    dl = cmds.add_parser("download", help="fetch, unpack and import the 1,000 published generators",
                         description="Fetch the published archives (addresses from singan-seg-polyp 1.0.7), record "
                                     "size and sha256 of everything in DEST/archives/manifest.json, unpack into "
                                     "DEST/reference/ and import into DEST/models/<image id>/. Rerunning resumes.")
    dl.add_argument("--parts", type=int, nargs="+", default=sorted(PUBLISHED_URLS), choices=sorted(PUBLISHED_URLS),
                    help="which of the 4 model archives (about 250 models each; default: all)")
    dl.add_argument("--dest", type=Path, default=Path("pretrained"),
                    help="where everything goes (default: pretrained/)")
    dl.add_argument("--archive", type=Path, nargs="+", default=[], metavar="FILE",
                    help="archives downloaded by hand (e.g. TrainedModels_1_clean.zip), used instead of fetching")
    dl.add_argument("--no-real-images", action="store_true",
                    help="skip the training images and masks archives (models then do not name their image)")
    dl.add_argument("--no-import", action="store_true", help="only fetch and unpack")
    dl.add_argument("--overwrite", action="store_true", help="re-import models that were imported before")
    dl.add_argument("--no-progress", action="store_true")
    dl.set_defaults(func=_download)


def _import(args) -> int:
    progress = not args.no_progress
    if (args.ref_folder / "Gs.pth").is_file():
        out = import_reference(args.ref_folder, args.out_dir, image_path=args.image, mask_path=args.mask,
                               original_size=tuple(args.original_size) if args.original_size else None,
                               overwrite=args.overwrite)
        print(f"Imported {args.ref_folder} -> {out}")
        return 0
    if args.image or args.mask or args.original_size:
        raise ValueError("--image, --mask and --original-size apply to a single model folder (one holding Gs.pth)")
    done = import_folder(args.ref_folder, args.out_dir, overwrite=args.overwrite, progress=progress)
    print(f"Imported {len(done)} models into {args.out_dir}")
    return 0


def _download(args) -> int:
    result = download_published(args.dest, parts=tuple(args.parts), archives=tuple(args.archive),
                                real_images=not args.no_real_images, import_models=not args.no_import,
                                overwrite=args.overwrite, progress=not args.no_progress)
    print(f"{len(result.archives)} archives recorded in {result.manifest}")
    if not args.no_import:
        print(f"{len(result.models)} models in {args.dest / 'models'}")
    return 0

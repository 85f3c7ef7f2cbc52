"""``singanseg export --shareable``: models that can be shared without their training images."""
from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="export models without their training images (--shareable)",
                       description="Write a copy of a trained or imported model (or of every model in a folder) "
                                   "that keeps the generators, noise amplitudes, sizes and config, and drops the "
                                   "real image pyramid, the reconstruction noise z_opt, the discriminators and "
                                   "every path (only the image id stays). The copy generates exactly the same "
                                   "samples from start scale 0; it cannot reconstruct or start above scale 0.")
    p.add_argument("model", type=Path, metavar="MODEL_OR_FOLDER", help="a model folder (with model.json) or a folder of them")
    p.add_argument("out", type=Path, metavar="OUT", help="the export (for a folder of models: OUT/<name>/ each)")
    p.add_argument("--shareable", action="store_true", required=True,
                   help="required: the only export there is, named so that the command says what it does")
    p.add_argument("--overwrite", action="store_true", help="replace existing exports")
    p.set_defaults(func=_export)


def _export(args) -> int:
    from singanseg_lib.singan.export import export_shareable_any, folder_bytes

    for out in export_shareable_any(args.model, args.out, overwrite=args.overwrite):
        print(f"{out}: shareable export, {folder_bytes(out) / 1e6:.2f} MB")
    return 0

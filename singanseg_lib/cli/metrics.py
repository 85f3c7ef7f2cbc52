"""``singanseg sifid`` and ``singanseg fid``: the paper's image-quality metrics on folders."""
from __future__ import annotations

import json
from pathlib import Path

from singanseg_lib.kit.env import resolve_device
from singanseg_lib.kit.files import atomic_write_json


def _common(p) -> None:
    p.add_argument("--weights", help="weights file (or folder holding it) for the feature network")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="use seeded random weights when none are found (results labelled: not comparable)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--json", help="also write the result to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def register(sub) -> None:
    from singanseg_lib.metrics import FEATURE_NETWORKS, RESIZE_MODES, SIFID_DIMS

    s = sub.add_parser("sifid", help="SIFID of synthetic images against their real images",
                       description="Single-image FID per synthetic image, pairs matched by name (the set's "
                                   "manifest.csv, else the same file stem), and the mean over pairs.")
    s.add_argument("real", help="folder of real images ('-' = the paths in the set's manifest)")
    s.add_argument("synthetic", help="folder of synthetic images (a synthetic set, or images named as the real ones)")
    s.add_argument("--dims", type=int, default=64, choices=sorted(SIFID_DIMS),
                   help="64: before the first max-pool (SinGAN code, default); 192: before the second (its paper)")
    s.add_argument("--network", default="torchvision", choices=sorted(FEATURE_NETWORKS),
                   help="torchvision: ImageNet Inception v3 as the SinGAN code (default); fid: pytorch-fid's")
    s.add_argument("--resize-real", action="store_true", help="resize each real image to its synthetic's size")
    s.add_argument("--by-set", action="store_true", help="also print the mean of each set (sample k of every image)")
    _common(s)
    s.set_defaults(func=_sifid)

    f = sub.add_parser("fid", help="FID of one or more synthetic sets against a real set (mean ± SD)",
                       description="FID with pytorch-fid's network and statistics and clean-fid-style resizing; "
                                   "the real set's statistics are cached.")
    f.add_argument("real", help="folder of real images")
    f.add_argument("synthetic", nargs="+", help="folders of synthetic images, one set each")
    f.add_argument("--split-by-sample", action="store_true",
                   help="one synthetic set folder with a manifest: set k = sample k of every image (the paper's sets)")
    f.add_argument("--resize", default="clean", choices=sorted(RESIZE_MODES),
                   help="clean: PIL bicubic on float (default); pytorch-fid: as pytorch-fid's command line")
    f.add_argument("--batch-size", type=int, default=16)
    f.add_argument("--cache-dir", help="where real-set statistics are cached (default: $SINGANSEG_CACHE or "
                                       "~/.cache/singanseg)")
    _common(f)
    f.set_defaults(func=_fid)


def _report(result: dict, path: str | None) -> None:
    print(json.dumps(result, indent=2))
    if path:
        atomic_write_json(Path(path), result)


def _sifid(args) -> int:
    from singanseg_lib.metrics import sifid_folders

    result = sifid_folders(None if args.real == "-" else args.real, args.synthetic, network=args.network,
                           dims=args.dims, weights_path=args.weights, allow_random=args.allow_random_weights,
                           resize_real=args.resize_real, device=resolve_device(args.device),
                           progress=not args.no_progress)
    out = result.as_dict()
    if not args.by_set:
        out.pop("sifid_by_set", None)
    out["values"] = result.values
    _report(out, args.json)
    return 0


def _fid(args) -> int:
    from singanseg_lib.metrics import fid_sets
    from singanseg_lib.sampling.manifest import images_by_sample

    if args.split_by_sample:
        if len(args.synthetic) != 1:
            raise ValueError("--split-by-sample takes one synthetic set folder")
        sets = {f"sample_{k}": files for k, files in images_by_sample(args.synthetic[0]).items()}
    else:
        sets = {str(s): s for s in args.synthetic}
    result = fid_sets(args.real, sets, resize=args.resize, cache_dir=args.cache_dir, batch_size=args.batch_size,
                      weights_path=args.weights, allow_random=args.allow_random_weights,
                      device=resolve_device(args.device), progress=not args.no_progress)
    _report(result.as_dict(), args.json)
    return 0

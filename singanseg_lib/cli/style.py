"""``singanseg style``: Gatys style transfer of a synthetic set (step 2 of SinGAN-Seg)."""
from __future__ import annotations

from singanseg_lib.cli._common import add_backend_options, backend_from_args
from singanseg_lib.kit.env import resolve_device


def register(sub) -> None:
    p = sub.add_parser("style", help="style-transfer a synthetic set from its real images",
                       description="Each synthetic image takes the style of its real training image (Gatys, "
                                   "VGG19, as the SinGAN-Seg reference); masks are copied unchanged. Writes "
                                   "<set>_ST-<content>_<style>/ beside the set; a rerun resumes.")
    p.add_argument("set", help="synthetic set folder (with manifest.csv)")
    p.add_argument("--ratio", default="1:1000", help="content:style loss weights (paper: 1:1 and 1:1000; default 1:1000)")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps per image (paper: 1000)")
    p.add_argument("--size", type=int, default=None,
                   help="optimise at this longer side, then resize back (default: the image's own size)")
    p.add_argument("--batch-size", type=int, default=4, help="images of one size optimised together (default 4)")
    p.add_argument("--samples", type=int, default=None, help="only samples 0..N-1 of each real image (FAKE-N)")
    p.add_argument("--real-dir", help="folder of the real images (default: the manifest's source_path)")
    p.add_argument("--out", help="output folder (default: <set>_ST-<content>_<style> beside the set)")
    p.add_argument("--weights", help="VGG19 weights file (or folder holding vgg19-dcbb9e9d.pth)")
    p.add_argument("--allow-random-weights", action="store_true",
                   help="seeded random VGG19 when no weights are found (labelled: not comparable with the paper)")
    p.add_argument("--overwrite", action="store_true", help="replace images styled with other settings")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_options(p, slurm=False)
    p.set_defaults(func=_style)


def _style(args) -> int:
    from singanseg_lib.style.transfer import style_set

    summary = style_set(args.set, ratio=args.ratio, steps=args.steps, size=args.size, batch_size=args.batch_size,
                        samples=args.samples, real_dir=args.real_dir, out_dir=args.out, weights_path=args.weights,
                        allow_random=args.allow_random_weights, overwrite=args.overwrite,
                        device=resolve_device(args.device), progress=not args.no_progress,
                        backend=backend_from_args(args))
    per_image = summary.seconds / summary.written if summary.written else 0.0
    print(f"{summary.out_dir}: {summary.written} styled ({per_image:.1f} s each), {summary.skipped} already done")
    return 0

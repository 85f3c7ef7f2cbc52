"""``singanseg train``: SinGAN-Seg models, one per image, resumable (what notebook 01 does)."""
from __future__ import annotations

import sys
from pathlib import Path

from tqdm.auto import tqdm

from singanseg_lib.cli._common import add_backend_options, add_preset_options, backend_from_args, parse_overrides
from singanseg_lib.data.folders import load_dataset
from singanseg_lib.kit import presets
from singanseg_lib.kit.env import resolve_device
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.many import (
    FAILED_FILE,
    TrainJob,
    TrainOutcome,
    auto_fuse,
    auto_workers,
    fused_groups,
    plan_buckets,
    snap_aspect,
    train_many,
)


def register(sub) -> None:
    p = sub.add_parser("train", help="train SinGAN-Seg models (one per image + mask)",
                       description="Train one SinGAN-Seg model per image: IMAGE --mask MASK, or a FOLDER with "
                                   "images/ and masks/ (paired by file name). Finished models are skipped, "
                                   "interrupted ones resume after their last finished scale.")
    p.add_argument("source", metavar="IMAGE|FOLDER", help="an image (with --mask) or a folder with images/ and masks/")
    p.add_argument("--mask", help="the mask of IMAGE (white = polyp)")
    p.add_argument("--mask-pattern", metavar="PATTERN",
                   help="FOLDER's mask file names, {stem} standing for the image's name without extension, e.g. "
                        "\"{stem}_1stHO.png\" (default: the known convention most images pair under; see data check)")
    add_preset_options(p)
    p.add_argument("--out", help="parent folder of the models, one sub-folder per image id "
                                 "(default: runs/<preset>/01_training/models)")
    p.add_argument("--limit", type=int, help="train only the first N images of FOLDER (sorted by id)")
    p.add_argument("--only", nargs="+", metavar="ID", help="train only these image ids of FOLDER (e.g. the failed ones)")
    p.add_argument("--set", nargs=2, action="append", metavar=("FIELD", "VALUE"), dest="fields",
                   help="override a TrainConfig field, e.g. --set iters_per_scale 500 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="retrain models that exist (default: skip or resume)")
    p.add_argument("--workers", type=int, default=0,
                   help="models trained side by side, each in its own process (default 0: one per CPU "
                        "core on a CPU, 1 on a GPU)")
    p.add_argument("--fuse", type=int, default=0, metavar="M",
                   help="train up to M models of one scale plan as one network (the same models, faster; "
                        "default 0: what benchmarks/results shows fastest on this device, 1 with --backend ray/slurm; 1: each alone)")
    p.add_argument("--snap-aspect", type=float, default=0.0, metavar="PCT",
                   help="with --fuse: resize an image by at most PCT %% per side (at its finest scale) into a larger "
                        "bucket's scale plan, so fewer fused networks train; a deviation from the paper, recorded "
                        "in each resized model's model.json (default 0: every image at its own size)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_backend_options(p)
    p.set_defaults(func=_run)


def _config(args) -> TrainConfig:
    overrides = presets.parse_fields(TrainConfig, parse_overrides(args.fields, option="--set"))
    overrides["device"] = str(resolve_device(args.device))
    return presets.config_from_preset(TrainConfig, args.preset, **overrides)


def _jobs(args) -> list[TrainJob]:
    """(id, image, mask) of each model to train: a checked data folder, or one image and its mask."""
    source = Path(args.source)
    if source.is_dir():
        if args.mask:
            raise ValueError(f"{source} is a folder; --mask is only for a single image")
        found = load_dataset(source, mask_pattern=args.mask_pattern, progress=not args.no_progress)
        pairs = [TrainJob(p.id, p.image, p.mask) for p in found.pairs]
        pairs = pairs[:args.limit] if args.limit else pairs
        if args.only:
            unknown = sorted(set(args.only) - {j.id for j in pairs})
            if unknown:
                raise ValueError(f"--only: no image id {', '.join(unknown)} in {source}"
                                 + (f" (first {args.limit}, --limit)" if args.limit else ""))
            pairs = [j for j in pairs if j.id in set(args.only)]
        return pairs
    if args.mask_pattern:
        raise ValueError(f"{source}: --mask-pattern pairs the files of a FOLDER; a single image takes --mask MASK")
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such image or folder")
    if not args.mask:
        raise ValueError(f"{source}: a single image needs its mask (--mask MASK)")
    return [TrainJob(source.stem, source, Path(args.mask))]


def _run(args) -> int:
    cfg = _config(args)
    if args.snap_aspect < 0:
        raise ValueError(f"--snap-aspect must be 0 or more (a percentage), got {args.snap_aspect}")
    jobs = _jobs(args)
    out = Path(args.out or Path("runs") / presets.preset_label(args.preset) / "01_training" / "models")
    # on Ray or Slurm one task per model by default: fused groups would leave most of a cluster idle
    fuse = args.fuse or (auto_fuse(cfg) if args.backend == "local" else 1)
    if args.snap_aspect and fuse > 1:
        before = len(plan_buckets(jobs, cfg))
        jobs = snap_aspect(jobs, cfg, args.snap_aspect)
        print(f"--snap-aspect {args.snap_aspect:g}: {sum(j.resize_to is not None for j in jobs)} image(s) resized "
              f"into a larger bucket, {before} -> {len(plan_buckets(jobs, cfg))} scale plan(s)")
    elif args.snap_aspect:
        print("--snap-aspect has no effect without fused training (--fuse 1): every image keeps its size")
    groups = fused_groups(jobs, cfg, fuse) if fuse > 1 else [[j] for j in jobs]
    backend = backend_from_args(args)
    workers = args.workers or auto_workers(cfg, len(groups))
    where = f"{workers} process(es) side by side" if backend == "local" else f"on {args.backend}"
    print(f"{len(jobs)} image(s) -> {out.resolve()}; preset {args.preset}, seed {args.seed}, device {cfg.device}, "
          f"max_size {cfg.max_size}, {cfg.iters_per_scale} iterations per scale, {where}")
    if fuse > 1:
        buckets = plan_buckets(jobs, cfg)
        print(f"fused training, up to {fuse} models per network: {len(buckets)} scale plan(s) with "
              f"{', '.join(str(len(b)) for b in buckets)} image(s), {len(groups)} group(s)")

    def report(o: TrainOutcome) -> None:  # tqdm.write: above the progress bar, not through it
        if o.status == "failed":
            tqdm.write(f"{o.id}: failed: {o.error}", file=sys.stderr)
        elif o.status != "skipped":
            tqdm.write(f"{o.id}: {o.status}, {o.train_seconds:.0f} s", file=sys.stdout)

    outcomes = train_many(jobs, out, cfg, seed=args.seed, workers=workers, fuse=fuse, overwrite=args.overwrite,
                          progress=not args.no_progress, on_done=report, backend=backend)
    rows = [(o.id, o.status, "-", "-", o.error) if o.status == "failed" else
            (o.id, o.status, f"{o.scales}", f"{o.seconds:.0f} s (all scales: {o.train_seconds:.0f} s)", str(o.model_dir))
            for o in outcomes]
    _summary(rows)
    failed = [o.id for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n{len(failed)} model(s) failed; each one's traceback is in {out}/<id>/{FAILED_FILE}. Rerun the same "
              f"command to retry them (finished models are skipped, interrupted ones resume), or add "
              f"--only {' '.join(failed)} to train just those.", file=sys.stderr)
    return 1 if failed else 0


def _summary(rows) -> None:
    counts = {a: sum(r[1] == a for r in rows) for a in ("trained", "resumed", "skipped", "failed")}
    print("\n" + ", ".join(f"{n} {a}" for a, n in counts.items() if n))
    header = ("image", "status", "scales", "time (this run / training total)", "model")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r[:4], widths)) + "  " + str(r[4]))

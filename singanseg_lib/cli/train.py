"""``singanseg train``: SinGAN-Seg models, one per image, resumable (what notebook 01 does)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import yaml

from .. import presets
from ..env import resolve_device
from ..train import TrainConfig, load_training_image, model_status, train_model
from ..train_data import TrainingPair, training_pairs
from ._common import add_preset_options


def register(sub) -> None:
    p = sub.add_parser("train", help="train SinGAN-Seg models (one per image + mask)",
                       description="Train one SinGAN-Seg model per image: IMAGE --mask MASK, or a FOLDER with "
                                   "images/ and masks/ (paired by file name). Finished models are skipped, "
                                   "interrupted ones resume after their last finished scale.")
    p.add_argument("source", metavar="IMAGE|FOLDER", help="an image (with --mask) or a folder with images/ and masks/")
    p.add_argument("--mask", help="the mask of IMAGE (white = polyp)")
    add_preset_options(p)
    p.add_argument("--out", help="parent folder of the models, one sub-folder per image id "
                                 "(default: runs/<preset>/01_training/models)")
    p.add_argument("--limit", type=int, help="train only the first N images of FOLDER (sorted by id)")
    p.add_argument("--set", nargs=2, action="append", metavar=("FIELD", "VALUE"), dest="fields",
                   help="override a TrainConfig field, e.g. --set iters_per_scale 500 (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="retrain models that exist (default: skip or resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)


def _config(args) -> TrainConfig:
    overrides = {}
    for name, raw in args.fields or []:
        if name in overrides:
            raise ValueError(f"--set {name} given twice")
        overrides[name] = yaml.safe_load(raw)
    overrides["device"] = str(resolve_device(args.device))
    return presets.config_from_preset(TrainConfig, args.preset, **overrides)


def _pairs(args) -> list[TrainingPair]:
    source = Path(args.source)
    if source.is_dir():
        if args.mask:
            raise ValueError(f"{source} is a folder; --mask is only for a single image")
        pairs = training_pairs(source)
        return pairs[:args.limit] if args.limit else pairs
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such image or folder")
    if not args.mask:
        raise ValueError(f"{source}: a single image needs its mask (--mask MASK)")
    return [TrainingPair(source.stem, source, Path(args.mask))]


def _run(args) -> int:
    cfg = _config(args)
    pairs = _pairs(args)
    out = Path(args.out or Path("runs") / presets.preset_label(args.preset) / "01_training" / "models")
    print(f"{len(pairs)} image(s) -> {out.resolve()}; preset {args.preset}, seed {args.seed}, device {cfg.device}, "
          f"max_size {cfg.max_size}, {cfg.iters_per_scale} iterations per scale")
    rows, failed = [], 0
    for k, pair in enumerate(pairs, 1):
        model_dir = out / pair.id
        status = "absent" if args.overwrite else model_status(model_dir)
        action = {"absent": "trained", "partial": "resumed", "complete": "skipped"}[status]
        if action != "skipped":
            print(f"[{k}/{len(pairs)}] {pair.id}: {'resuming' if action == 'resumed' else 'training'}", flush=True)
        start = time.perf_counter()
        try:
            model = train_model(load_training_image(pair.image_path, pair.mask_path), model_dir, cfg,
                                seed=args.seed, overwrite=args.overwrite, progress=not args.no_progress,
                                source={"image_id": pair.id, "image_path": str(pair.image_path.resolve()),
                                        "mask_path": str(pair.mask_path.resolve())})
        except (ValueError, FileNotFoundError) as e:
            failed += 1
            rows.append((pair.id, "failed", "-", "-", str(e)))
            print(f"[{k}/{len(pairs)}] {pair.id}: failed: {e}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - start
        train_seconds = sum(e["seconds"] for e in model.meta["scales"])
        rows.append((pair.id, action, f"{model.pyramid.num_trained}", f"{seconds:.0f} s (all scales: {train_seconds:.0f} s)",
                     str(model_dir)))
    _summary(rows)
    return 1 if failed else 0


def _summary(rows) -> None:
    counts = {a: sum(r[1] == a for r in rows) for a in ("trained", "resumed", "skipped", "failed")}
    print("\n" + ", ".join(f"{n} {a}" for a, n in counts.items() if n))
    header = ("image", "status", "scales", "time (this run / training total)", "model")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(r[:4], widths)) + "  " + str(r[4]))

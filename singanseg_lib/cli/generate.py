"""``singanseg generate``: samples of trained models written as a synthetic set (images, masks, manifest)."""
from __future__ import annotations

from singanseg_lib.cli._common import add_preset_options
from singanseg_lib.kit.env import resolve_device
from singanseg_lib.kit.presets import load_preset
from singanseg_lib.sampling.generate import PRECISIONS
from singanseg_lib.sampling.synthetic import MANIFEST, export_models, find_models, read_manifest

# Option -> (preset entry, default when neither the option nor the preset sets it).
FROM_PRESET = {"n": ("n_samples", 10), "start_scale": ("start_scale", 0), "batch_size": ("gen_batch_size", 0),
               "original_size": ("original_size", False), "precision": ("gen_precision", "float32")}


def register(sub) -> None:
    p = sub.add_parser("generate", help="generate samples (image + mask) from trained models",
                       description="Generate samples from one trained model folder or from every model in a "
                                   "folder of models, into one synthetic set: <image-id>_<k>_img.png, "
                                   "<image-id>_<k>_mask.png and manifest.csv. A rerun skips samples already "
                                   "there; files that differ are kept unless --overwrite.")
    p.add_argument("models", metavar="MODEL_DIR_OR_MODELS_FOLDER",
                   help="a model folder (with model.json) or a folder of such folders")
    p.add_argument("--out", required=True, metavar="SET_DIR", help="folder of the synthetic set (made if missing)")
    p.add_argument("--n", type=int, help="samples per model (paper: 10; default: the preset's n_samples, else 10)")
    p.add_argument("--start-scale", type=int,
                   help="scales below it follow the reconstruction, fresh noise from it on; 0 (the paper, the "
                        "default) gives the most diverse samples; the singan-seg-polyp package uses 5")
    p.add_argument("--original-size", action="store_true", default=None,
                   help="resize samples to the training image's original resolution (mask thresholded after)")
    p.add_argument("--batch-size", type=int, help="samples run at once (default 0 = from the free memory)")
    p.add_argument("--precision", choices=PRECISIONS,
                   help="float32 (default) or bfloat16 convolutions (faster on AMX CPUs and GPUs; pixels "
                        "change slightly)")
    p.add_argument("--overwrite", action="store_true", help="replace existing samples that differ")
    p.add_argument("--skip-incomplete", action="store_true", help="leave out models still in training")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_preset_options(p)
    p.set_defaults(func=_generate)


def _settings(args) -> dict:
    preset = load_preset(args.preset)
    chosen = {}
    for option, (entry, default) in FROM_PRESET.items():
        value = getattr(args, option)
        chosen[option] = value if value is not None else preset.get(entry, default)
    if chosen["n"] < 1:
        raise ValueError(f"--n must be at least 1, got {chosen['n']}")
    if chosen["batch_size"] < 0:
        raise ValueError(f"--batch-size must be 0 (automatic) or more, got {chosen['batch_size']}")
    return chosen


def _generate(args) -> int:
    s = _settings(args)
    device = resolve_device(args.device)
    n_models = len(find_models(args.models))
    print(f"generating {s['n']} samples per model from {n_models} model(s) on {device}: start scale "
          f"{s['start_scale']}, base seed {args.seed}, {s['precision']}, batch size {s['batch_size'] or 'auto'}"
          f"{', original size' if s['original_size'] else ''}")
    summary = export_models(args.models, args.out, n_per_model=s["n"], seed=args.seed,
                            start_scale=s["start_scale"], batch_size=s["batch_size"] or None,
                            original_size=bool(s["original_size"]), precision=s["precision"],
                            overwrite=args.overwrite, skip_incomplete=args.skip_incomplete, device=device,
                            progress=not args.no_progress)
    left_out = n_models - len(summary.models)
    print(f"done: {len(summary.models)} model(s){f' ({left_out} incomplete left out)' if left_out else ''}, "
          f"{summary.written} sample(s) written, {summary.skipped} already there (skipped)")
    if summary.written:
        print(f"speed: {summary.samples_per_s:.2f} samples/s ({summary.seconds:.1f} s generating and writing)")
    print(f"synthetic set: {summary.out_dir.resolve()} ({len(read_manifest(summary.out_dir))} samples listed "
          f"in {MANIFEST}; sample k's seed is recorded there)")
    return 0

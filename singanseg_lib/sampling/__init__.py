"""Step 2 of the paper: generating synthetic image/mask pairs from trained models.
Batched, seeded sampling from any start scale (``generate``), synthetic sets written to disk
and read back (``synthetic``), and the set's ``manifest.csv`` with the pairing of synthetic
and real images by name (``manifest``). Notebook 02.
"""
from singanseg_lib.sampling import generate, manifest, synthetic
from singanseg_lib.sampling.generate import (
    PRECISIONS,
    Samples,
    default_batch_size,
    generate_from_seeds,
    generate_samples,
    iter_sample_batches,
    mask_diversity,
    mask_mean_sd,
    polyp_shares,
    real_mask,
    sample_noises,
    sample_seed,
    sampling_copy,
    share_summary,
    start_scale_sweep,
    to_uint8,
)
from singanseg_lib.sampling.manifest import (
    MANIFEST,
    MANIFEST_COLUMNS,
    MatchedPair,
    images_by_sample,
    list_images,
    manifest_columns,
    match_pairs,
    read_manifest,
    source_of,
    split_by_sample,
    styled_set_name,
    write_manifest,
)
from singanseg_lib.sampling.synthetic import (
    ExportSummary,
    ModelSamples,
    export_models,
    find_models,
    load_model_samples,
    read_sample,
    training_models,
)

__all__ = [
    "generate", "manifest", "synthetic", "PRECISIONS", "Samples", "sample_seed", "sample_noises", "sampling_copy",
    "default_batch_size", "iter_sample_batches", "generate_from_seeds", "generate_samples", "start_scale_sweep",
    "to_uint8", "polyp_shares", "mask_mean_sd", "mask_diversity", "real_mask", "share_summary", "MANIFEST",
    "MANIFEST_COLUMNS", "MatchedPair", "list_images", "read_manifest", "write_manifest", "manifest_columns",
    "styled_set_name", "source_of", "match_pairs", "split_by_sample", "images_by_sample", "ExportSummary",
    "ModelSamples", "find_models", "training_models", "read_sample", "load_model_samples", "export_models"
]

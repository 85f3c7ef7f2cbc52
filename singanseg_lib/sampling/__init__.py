"""Step 2 of the paper: generating synthetic image/mask pairs from trained models.
Batched, seeded sampling from any start scale (``generate``), synthetic sets written to disk
and read back (``synthetic``), and the set's ``manifest.csv`` with the pairing of synthetic
and real images by name (``manifest``). Notebook 02.
"""
from singanseg_lib.sampling import generate, manifest, synthetic
from singanseg_lib.sampling.generate import (
    PRECISIONS, Samples, sample_seed, sample_noises, sampling_copy, default_batch_size, iter_sample_batches,
    generate_from_seeds, generate_samples, start_scale_sweep, to_uint8, polyp_shares, mask_mean_sd, mask_diversity,
    real_mask, share_summary,
)
from singanseg_lib.sampling.manifest import (
    MANIFEST, MANIFEST_COLUMNS, IMAGE_SUFFIXES, Pair, read_rgb, list_images, read_manifest, write_manifest,
    manifest_columns, source_of, match_pairs, split_by_sample, images_by_sample,
)
from singanseg_lib.sampling.synthetic import (
    ExportSummary, ModelSamples, find_models, training_models, read_sample, load_model_samples, export_models,
)

__all__ = [
    "generate", "manifest", "synthetic", "PRECISIONS", "Samples", "sample_seed", "sample_noises", "sampling_copy",
    "default_batch_size", "iter_sample_batches", "generate_from_seeds", "generate_samples", "start_scale_sweep",
    "to_uint8", "polyp_shares", "mask_mean_sd", "mask_diversity", "real_mask", "share_summary", "MANIFEST",
    "MANIFEST_COLUMNS", "IMAGE_SUFFIXES", "Pair", "read_rgb", "list_images", "read_manifest", "write_manifest",
    "manifest_columns", "source_of", "match_pairs", "split_by_sample", "images_by_sample", "ExportSummary",
    "ModelSamples", "find_models", "training_models", "read_sample", "load_model_samples", "export_models"
]

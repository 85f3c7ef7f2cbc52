"""Steps 5 and 6 of the paper: UNet++ trained on real or synthetic data. Image/mask
pairs for training and their sources (``pairs``), UNet++ training and evaluation
(``unetpp``), the paper's experiments with folds, leakage checks and resuming
(``experiments``) and their fold averages and tables (``results``). Notebooks 06 and 07.
"""
from singanseg_lib.segmentation import experiments, pairs, results, unetpp
from singanseg_lib.segmentation.experiments import (
    KEY_VERSION,
    ST_CHOICES,
    LeakageError,
    RunSpec,
    check_no_leakage,
    plan_real_vs_fake,
    plan_small_data,
    real_vs_fake_training,
    row_name,
    run_experiment,
    run_key,
    series_folds,
    trainable_folds,
)
from singanseg_lib.segmentation.pairs import (
    AUGMENTATIONS,
    Pair,
    SegmentationArrays,
    augmentation,
    find_synthetic_set,
    list_real_pairs,
    load_pairs,
    load_sets,
    modelled_ids,
    read_pair,
    read_synthetic_set,
)
from singanseg_lib.segmentation.results import (
    data_description,
    fold_summary,
    predict_rows,
    small_data_gains,
    small_data_shares,
    summarise,
    table_entry,
)
from singanseg_lib.segmentation.unetpp import (
    ENCODER_WEIGHT_MODES,
    METRIC_NAMES,
    SegmentConfig,
    SegmentResult,
    build_model,
    config_from_params,
    encoder_start,
    evaluate,
    find_encoder_weights,
    load_segmenter,
    polyp_metrics,
    predict,
    train_segmentation,
    write_result,
)

__all__ = [
    "experiments", "pairs", "results", "unetpp", "Pair", "SegmentationArrays", "list_real_pairs",
    "read_synthetic_set", "find_synthetic_set", "load_sets", "modelled_ids", "read_pair",
    "load_pairs", "augmentation", "AUGMENTATIONS", "SegmentConfig", "SegmentResult", "ENCODER_WEIGHT_MODES",
    "METRIC_NAMES", "config_from_params", "find_encoder_weights", "encoder_start", "build_model", "polyp_metrics",
    "predict", "evaluate", "train_segmentation", "write_result", "load_segmenter", "ST_CHOICES", "LeakageError",
    "RunSpec", "row_name", "series_folds", "trainable_folds", "check_no_leakage", "real_vs_fake_training",
    "plan_real_vs_fake", "plan_small_data", "run_key", "run_experiment", "KEY_VERSION", "summarise", "table_entry",
    "data_description", "fold_summary", "predict_rows", "small_data_shares", "small_data_gains"
]

"""Step 0 of the paper: the real data. Image/mask folders checked (``folders``) and paired by
name (``pairing``: layouts, mask naming conventions, ``mask_pattern``), one image and one mask
reader with the mask threshold (``images``), statistics and the polyp-share distribution
(``stats``), k-fold splits (``folds``) and the full Kvasir-SEG data set, downloaded and verified
(``kvasir``). Notebook 00.
"""
from singanseg_lib.data import folders, folds, images, kvasir, pairing, stats
from singanseg_lib.data.folders import (
    Dataset,
    DatasetError,
    DatasetPair,
    DataWarning,
    kit_data_dir,
    load_dataset,
    resolve_data_dir,
    sample_dir,
)
from singanseg_lib.data.folds import Folds, load_folds, make_folds, save_folds
from singanseg_lib.data.images import IMAGE_SUFFIXES, MASK_THRESHOLD, read_image, read_mask, read_mask_grey
from singanseg_lib.data.stats import pick_by_share, summarize, summary_table

__all__ = [
    "folders", "folds", "images", "kvasir", "pairing", "stats", "DatasetError", "DataWarning", "DatasetPair", "Dataset",
    "kit_data_dir", "sample_dir", "resolve_data_dir", "load_dataset", "MASK_THRESHOLD", "IMAGE_SUFFIXES",
    "read_image", "read_mask", "read_mask_grey", "summarize", "summary_table", "pick_by_share", "Folds",
    "make_folds", "save_folds", "load_folds"
]

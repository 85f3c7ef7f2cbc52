"""SIFID and FID (notebook 05, ``singanseg sifid`` / ``singanseg fid``).

- :mod:`.frechet`: the Fréchet distance and Gaussian statistics, on arrays;
- :mod:`.inception`: the two Inception v3 feature networks and their taps (64, 192, 2048);
- :mod:`.sifid`: single-image FID of pairs matched by name;
- :mod:`.fid`: FID of synthetic sets against a real set, with clean-fid-style resizing.
"""

from singanseg_lib.metrics.fid import (
    RESIZE_MODES,
    FidResult,
    default_cache_dir,
    fid_features,
    fid_sets,
    image_for_fid,
    mean_sd,
    set_features,
)
from singanseg_lib.metrics.frechet import frechet_distance, frechet_distance_features, gaussian_stats
from singanseg_lib.metrics.inception import FEATURE_NETWORKS, TAPS, InceptionFeatures, load_inception
from singanseg_lib.metrics.sifid import SIFID_DIMS, SifidResult, pixel_features, sifid, sifid_folders, sifid_pairs

__all__ = [
    "RESIZE_MODES",
    "FidResult",
    "default_cache_dir",
    "fid_features",
    "fid_sets",
    "image_for_fid",
    "mean_sd",
    "set_features",
    "frechet_distance",
    "frechet_distance_features",
    "gaussian_stats",
    "FEATURE_NETWORKS",
    "TAPS",
    "InceptionFeatures",
    "load_inception",
    "SIFID_DIMS",
    "SifidResult",
    "pixel_features",
    "sifid",
    "sifid_folders",
    "sifid_pairs",
]

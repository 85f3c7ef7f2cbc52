"""What SinGAN-Seg samples give away about their training images: linkage of samples to the
real data set, nearest-neighbour (authenticity) ratios and mask memorisation (``linkage``),
and the audit over start scales and style transfer (``audit``). Notebook 05b; the shareable
model export it motivates is :mod:`singanseg_lib.singan.export`.
"""
from singanseg_lib.privacy import audit, linkage
from singanseg_lib.privacy.audit import (
    FEATURE_SPACES,
    RealSet,
    SampleRecord,
    add_reals,
    audit_model,
    image_features,
    load_pair,
    load_reals,
    real_set,
    recommend,
    summarise,
)
from singanseg_lib.privacy.linkage import (
    LINKAGE_SIGMAS,
    MASK_COPY_IOU,
    NEAR_COPY_RATIO,
    Linkage,
    above_chance,
    distances,
    mask_iou,
    nn_ratio,
    own_vs_other_auc,
    source_ranks,
    top_k_rate,
)

__all__ = ["audit", "linkage", "FEATURE_SPACES", "RealSet", "SampleRecord", "add_reals", "audit_model", "image_features", "load_pair",
           "load_reals", "real_set", "recommend", "summarise", "LINKAGE_SIGMAS", "MASK_COPY_IOU", "NEAR_COPY_RATIO", "Linkage",
           "above_chance", "distances", "mask_iou", "nn_ratio", "own_vs_other_auc", "source_ranks", "top_k_rate"]

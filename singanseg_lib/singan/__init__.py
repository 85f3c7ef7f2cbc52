"""Step 1 of the paper: SinGAN-Seg, one 4-channel (RGB + mask) SinGAN per image. The
image pyramid (``pyramid``), the per-scale generator and critic (``models``), the training
configuration (``config``), one WGAN-GP iteration as the reference computes it
(``algorithm``, the readable version) and as the kit computes it (``step``, tested equal),
its layouts and exact BatchNorm tricks (``layout``, ``batchnorm``), seeded noise (``noise``),
the multi-scale loop with resumable checkpoints (``train``, ``checkpoint``), many models side
by side (``many``) or fused into one network (``fused``), on a Ray cluster or a Slurm array
(``backends``), resuming inside a scale (``resume``), shareable exports without the
training image (``export``)
and what a trained model tells (``diagnostics``). Notebook 01.
"""
from singanseg_lib.singan import (
    algorithm,
    backends,
    batchnorm,
    checkpoint,
    config,
    diagnostics,
    export,
    fused,
    layout,
    losses,
    many,
    models,
    noise,
    pyramid,
    resume,
    step,
    train,
)
from singanseg_lib.singan.backends import SLURM_LOG, train_units
from singanseg_lib.singan.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    META_FILE,
    CheckpointError,
    LoadedModel,
    load_model,
    new_meta,
    read_meta,
    save_scale,
)
from singanseg_lib.singan.config import EXECUTION_FIELDS, TrainConfig
from singanseg_lib.singan.diagnostics import (
    initial_reconstruction_error,
    model_summary,
    reconstruction_errors,
    reconstructions,
    time_iteration,
)
from singanseg_lib.singan.export import export_shareable, export_shareable_folder
from singanseg_lib.singan.fused import FusedScaleTrainer, fuse, train_fused, unfuse
from singanseg_lib.singan.layout import (
    COMPILE_FAILURES,
    CPU_COMPILE_MIN_ITERS,
    CPU_G_CHANNELS_LAST_MIN_WIDTH,
    CPU_GP_COMPOSITE_BN_MIN_WIDTH,
    Layout,
    import_cpp_extension_quietly,
    layout_for,
)
from singanseg_lib.singan.losses import LOSS_NAMES, gradient_penalty, penalty
from singanseg_lib.singan.many import (
    CPU_FUSE,
    CPU_FUSE_MAX_SIZE,
    FAILED_FILE,
    GPU_FUSE,
    TrainJob,
    TrainOutcome,
    auto_fuse,
    auto_workers,
    clear_failure,
    error_line,
    finest_change_pct,
    fused_groups,
    job_image,
    plan_buckets,
    plan_key,
    record_failure,
    snap_aspect,
    train_group,
    train_many,
    train_one,
    train_unit,
)
from singanseg_lib.singan.models import (
    PAD,
    ConvBlock,
    ScaleDiscriminator,
    ScaleGenerator,
    ShareableModelError,
    SinGANPyramid,
    init_weights,
    pad,
    padding_for,
)
from singanseg_lib.singan.noise import draw, draw_noise, make_generator, scale_seed
from singanseg_lib.singan.pyramid import (
    ScalePlan,
    build_pyramid,
    plan_scales,
    resize,
    resize_matrix,
    resized_size,
    scale_width,
    upsample_to,
)
from singanseg_lib.singan.resume import load_state, save_state, state_path
from singanseg_lib.singan.step import PREV_BATCH_BYTES, PREV_BATCH_MAX, PhaseTimer, ScaleTrainer
from singanseg_lib.singan.train import (
    TrainEvent,
    finish_scale,
    history_path,
    init_networks,
    load_history,
    load_training_image,
    model_status,
    open_model,
    start_scale,
    tensor_sha256,
    to_training_tensor,
    train_model,
)

__all__ = [
    "algorithm", "backends", "batchnorm", "checkpoint", "config", "diagnostics", "export", "fused", "layout", "losses", "many", "models",
    "noise", "pyramid",
    "step", "train", "EXECUTION_FIELDS", "TrainConfig", "ScalePlan", "scale_width", "resized_size", "plan_scales",
    "resize_matrix", "resize", "build_pyramid", "upsample_to", "PAD", "ConvBlock", "init_weights", "ScaleGenerator",
    "ScaleDiscriminator", "padding_for", "pad", "SinGANPyramid", "ShareableModelError", "scale_seed", "make_generator",
    "draw", "draw_noise", "FORMAT", "FORMAT_VERSION", "META_FILE", "CheckpointError", "LoadedModel", "new_meta", "save_scale",
    "read_meta", "load_model", "export_shareable",
    "export_shareable_folder", "to_training_tensor", "load_training_image", "model_status", "tensor_sha256",
    "TrainEvent", "history_path", "load_history", "train_model", "init_networks", "TrainJob", "TrainOutcome",
    "auto_workers", "train_one", "train_many", "CPU_FUSE", "CPU_FUSE_MAX_SIZE", "GPU_FUSE", "auto_fuse", "plan_buckets", "fused_groups",
    "train_group",
    "plan_key", "snap_aspect", "finest_change_pct", "job_image",
    "train_unit", "FAILED_FILE", "record_failure", "clear_failure", "error_line", "SLURM_LOG", "train_units",
    "fuse", "unfuse", "FusedScaleTrainer", "train_fused", "resume", "save_state", "load_state", "state_path",
    "open_model", "start_scale", "finish_scale",
    "reconstructions", "reconstruction_errors",
    "initial_reconstruction_error", "time_iteration", "model_summary", "COMPILE_FAILURES",
    "CPU_G_CHANNELS_LAST_MIN_WIDTH", "CPU_GP_COMPOSITE_BN_MIN_WIDTH", "CPU_COMPILE_MIN_ITERS",
    "import_cpp_extension_quietly", "Layout", "layout_for", "LOSS_NAMES", "PREV_BATCH_BYTES", "PREV_BATCH_MAX",
    "PhaseTimer", "penalty", "gradient_penalty", "ScaleTrainer"
]

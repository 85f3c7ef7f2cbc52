"""The kit's own machinery, shared by every step: seeds and devices (``env``), atomic files
(``files``), presets and their type checks (``presets``), the notebook runner (``runner``), a
notebook's outputs (``outputs``), the run-folder layout (``paths``), pretrained weight files
(``weights``), resumable downloads (``download``) and where many pieces of work run: this
machine, Ray or Slurm (``backends``). Nothing here knows about SinGAN-Seg; the
step packages build on it. Import the modules by name (``from singanseg_lib.kit import presets``).
"""
__all__ = ["backends", "download", "env", "files", "outputs", "paths", "presets", "runner", "weights"]

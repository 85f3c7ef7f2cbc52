"""The kit's own machinery, shared by every step: seeds and devices (``env``), atomic files
(``files``), presets and their type checks (``presets``), the notebook runner (``runner``), a
notebook's outputs (``outputs``), the run-folder layout (``paths``), pretrained weight files
(``weights``) and resumable downloads (``download``). Nothing here knows about SinGAN-Seg; the
step packages build on it. Import the modules by name (``from singanseg_lib.kit import presets``).
"""
__all__ = ["download", "env", "files", "outputs", "paths", "presets", "runner", "weights"]

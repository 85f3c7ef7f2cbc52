"""Reading one image or mask file: the RGB rules for images and the binarisation of masks.

Images become ``H x W x 3`` uint8 RGB: grey images have their grey copied to R, G and B, a fully
opaque alpha channel is dropped; transparent pixels, 16-bit and float images raise ValueError
(what a model should see there is the user's call). Masks are read as grey levels (PIL's ``L``:
0.299 R + 0.587 G + 0.114 B; a JPEG mask is decoded straight to its luma, the same grey) and
binarised at **grey >** :data:`MASK_THRESHOLD` (docs/algorithm.md §1.3): white is polyp. Lossless masks whose only
values are 0 and 1 (label maps, palette indices) are read as 0/255. Kvasir-SEG's JPEG masks hold only the values
0-8 and 246-255, so their JPEG noise never comes near the threshold.

:data:`IMAGE_SUFFIXES` are the file suffixes the kit reads as images or masks, everywhere (data
folders, synthetic sets, metrics): anything PIL decodes to 8-bit, in the formats it reads losslessly
or as JPEG.

Folders of pairs, and their checks, are :mod:`singanseg_lib.data`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = ["MASK_THRESHOLD", "IMAGE_SUFFIXES", "read_image", "read_mask", "read_mask_grey"]

MASK_THRESHOLD = 127  # polyp where the grey level is above it (docs/algorithm.md §1.3)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")  # any case
DEEP_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def open_image(path: Path) -> Image.Image:
    """``PIL.Image.open`` (lazy: the header only); a missing file raises FileNotFoundError, an
    unreadable one ValueError, both naming the file."""
    try:
        return Image.open(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None


def to_rgb(im: Image.Image, path: Path) -> Image.Image:
    """An 8-bit RGB version of a loaded image: grey copied, an opaque alpha dropped; else ValueError."""
    if im.mode in DEEP_MODES:
        raise ValueError(f"{path}: {im.mode} image (16-bit or float); convert it to 8-bit RGB first")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ALPHA_MODES:
        lowest = im.getchannel("A").getextrema()[0]
        if lowest < 255:
            raise ValueError(f"{path}: transparent pixels (alpha down to {lowest}); what lies behind them is "
                             "unknown, so flatten the image onto a background first")
    return im if im.mode == "RGB" else im.convert("RGB")


def read_image(path: str | Path) -> np.ndarray:
    """An image file as an ``H x W x 3`` uint8 array (grey copied to RGB, an opaque alpha dropped)."""
    path = Path(path)
    with open_image(path) as im:
        try:
            im.load()
        except OSError as e:
            raise ValueError(f"{path}: unreadable or truncated ({e})") from None
        return np.asarray(to_rgb(im, path))


def mask_grey_levels(path: Path) -> tuple[np.ndarray, bool]:
    """(grey levels, whether the file was a 0/1 label map)."""
    with open_image(path) as im:
        try:
            if im.format == "JPEG":
                im.draft("L", im.size)  # decode the luma only: PIL's L, without the RGB round trip
            im.load()
        except OSError as e:
            raise ValueError(f"{path}: unreadable or truncated ({e})") from None
        if im.mode == "P" and np.asarray(im).max() <= 1:
            grey = np.asarray(im).astype(np.uint8)  # palette indices 0/1: a label map
        elif im.mode in DEEP_MODES:
            arr = np.asarray(im)
            if im.mode == "F" or arr.min() < 0 or arr.max() > 255:
                raise ValueError(f"{path}: {im.mode} mask with values {arr.min()}..{arr.max()}; "
                                 "save masks as 8-bit (0 and 255, or 0 and 1)")
            grey = arr.astype(np.uint8)
        else:
            grey = np.asarray(im.convert("L"))
        label_map = im.format != "JPEG" and grey.max() == 1  # JPEG noise can be 0/1 too: not a label map
    return (grey * np.uint8(255) if label_map else grey), label_map


def read_mask_grey(path: str | Path) -> np.ndarray:
    """A mask file as ``H x W`` uint8 grey levels 0-255 (lossless 0/1 label maps scaled to 0/255)."""
    return mask_grey_levels(Path(path))[0]


def read_mask(path: str | Path) -> np.ndarray:
    """A mask file as an ``H x W`` bool array: True (polyp) where grey > :data:`MASK_THRESHOLD`."""
    return read_mask_grey(path) > MASK_THRESHOLD

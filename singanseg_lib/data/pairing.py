"""Which file is whose mask: the folder layouts, how masks are named after their images, a guess.

Layouts (``layout="auto"`` takes the first that fits):

- ``subfolders``: ``<root>/images/`` with ``<root>/masks/`` (Kvasir-SEG, HyperKvasir's
  segmented-images; ``image/`` + ``mask/`` also work);
- ``flat``: one folder of images and their masks, e.g. ``<stem>_img.<ext>`` + ``<stem>_mask.<ext>``
  (the kit's synthetic sets) or ``<stem>.<ext>`` + ``<stem>_1stHO.<ext>``.

A mask pattern holds ``{stem}`` once: the image's id, its file name without the extension (in a
flat folder also without a trailing ``_img``). The kit knows :data:`KNOWN_PATTERNS`: the same name
(subfolders only: in one folder no file is its own mask), ``{stem}_mask`` (the kit's sets),
``{stem}_1stHO`` / ``{stem}_2ndHO`` (CHASE_DB1), ``{stem}_manual1`` / ``{stem}_manual2`` (DRIVE),
``{stem}_segmentation`` (ISIC) and others, and takes the one most images pair under; two that pair
equally many are an error (say which with ``mask_pattern``), except a first and a second observer's
masks side by side: the first observer's are taken, as those data sets' papers do. A pattern without an extension matches any of
:data:`~singanseg_lib.data.images.IMAGE_SUFFIXES`, with one (``{stem}_1stHO.png``) only that one;
names match in any case. In a flat folder, files named after a known pattern are masks, never images.

When images lack masks, :func:`guess_pattern` looks for the way most mask names differ from their
images' (a mask name that holds an image's id), so the error can say which pattern would pair them.
"""
from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from singanseg_lib.data.images import IMAGE_SUFFIXES

__all__ = ["KNOWN_PATTERNS", "MaskNaming", "mask_naming", "describe", "guess_pattern", "Pairing", "pair_folder"]

KNOWN_PATTERNS = ("{stem}", "{stem}_mask", "{stem}_masks", "{stem}_1stHO", "{stem}_2ndHO", "{stem}_manual1",
                  "{stem}_manual2", "{stem}_segmentation", "{stem}_seg", "{stem}_label", "{stem}_gt")
# A second observer's masks beside the first's: the data sets' own papers take the first
# observer's as the ground truth, so a tie between the two is no ambiguity.
SECOND_OBSERVER = {"{stem}_2ndHO": "{stem}_1stHO", "{stem}_manual2": "{stem}_manual1"}
SUBFOLDER_NAMES = (("images", "masks"), ("image", "mask"))
SUFFIX_HINT = "|".join(s.lstrip(".") for s in IMAGE_SUFFIXES)  # "jpg|jpeg|png|..." for messages


@dataclass(frozen=True)
class MaskNaming:
    """One pattern, compiled: which files are masks under it, and of which image id."""

    pattern: str
    before: str      # the text before {stem}
    after: str       # the text after {stem}, without the extension
    extension: str   # "" (any image suffix) or one of IMAGE_SUFFIXES

    def key(self, path: Path) -> str | None:
        """The image id whose mask ``path`` is under this pattern, or None."""
        ext = re.escape(self.extension) if self.extension else r"\.[^.]+"
        found = re.fullmatch(f"{re.escape(self.before)}(?P<stem>.+){re.escape(self.after)}{ext}", path.name,
                             flags=re.IGNORECASE)
        return found["stem"] if found else None

    def expected(self, key: str) -> str:
        """The mask file name an image id should have, for messages."""
        return f"{self.before}{key}{self.after}{self.extension or f'.<{SUFFIX_HINT}>'}"


def mask_naming(pattern: str) -> MaskNaming:
    """Compile a pattern such as ``"{stem}_1stHO.png"``; a malformed one raises ValueError naming it."""
    if pattern.count("{stem}") != 1 or "/" in pattern or "\\" in pattern:
        raise ValueError(f"mask pattern {pattern!r}: give a file name with {{stem}} once, for the image's name "
                         "without its extension, e.g. '{stem}_1stHO.png' or '{stem}_mask' (any extension)")
    before, after = pattern.split("{stem}")
    extension = next((s for s in IMAGE_SUFFIXES if after.lower().endswith(s)), "")
    if not extension and after.lower().endswith(tuple(Image.registered_extensions())):
        raise ValueError(f"mask pattern {pattern!r}: the kit reads masks as {SUFFIX_HINT.replace('|', '/')}; "
                         "give one of these, or no extension for any of them")
    return MaskNaming(pattern, before, after[:len(after) - len(extension)], extension.lower())


def describe(pattern: str) -> str:
    """``"{stem}_1stHO"`` -> ``"{stem}_1stHO.<jpg|...>"``: a pattern as the file names it matches."""
    return mask_naming(pattern).expected("{stem}")


def guess_pattern(ids: set[str], candidates: list[tuple[Path, str | None]]) -> tuple[str, int] | None:
    """The pattern most candidate masks follow, and how many do; None if no name holds an image id.

    ``candidates`` are (file, the file's own id or None): in a flat folder an unpaired image may be
    a mask, but not its own. A name's longest image id counts, so ``a1_gt`` is ``a1``'s, not ``a``'s.
    The extension goes into the pattern when every such mask has the same one.
    """
    forms: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for path, own_id in candidates:
        stem = path.stem
        hit = next(((stem[:i], stem[i + n:]) for n in range(len(stem), 0, -1) for i in range(len(stem) - n + 1)
                    if stem[i:i + n] in ids and stem[i:i + n] != own_id), None)
        if hit is not None:
            forms[hit].append(path.suffix.lower())
    if not forms:
        return None
    (before, after), suffixes = max(forms.items(), key=lambda item: len(item[1]))
    extension = suffixes[0] if len(set(suffixes)) == 1 else ""
    return f"{before}{{stem}}{after}{extension}", len(suffixes)


@dataclass
class Pairing:
    """What pairing a folder found: images and masks by id under one naming, and the masks left over."""

    layout: str
    naming: MaskNaming
    images: dict[str, Path]
    masks: dict[str, Path]
    unmatched_masks: list[Path]
    mask_dir: Path

    @property
    def lacking(self) -> list[str]:
        """Ids of the images without a mask, sorted."""
        return sorted(set(self.images) - set(self.masks))

    def missing(self) -> list[str]:
        """One ``file: no mask (expected ...)`` problem per image without a mask."""
        where = f"in {self.mask_dir}" if self.layout == "subfolders" else "beside it"
        return [f"{self.images[k]}: no mask (expected {self.naming.expected(k)} {where})" for k in self.lacking]

    def hint(self) -> str:
        """A ``--mask-pattern`` suggestion when images lack masks and most would pair under one guessed
        pattern (in a flat folder an unpaired image may be someone's mask), else ""."""
        flat = self.layout == "flat"
        if not self.lacking:
            return ""
        return pattern_hint(self.images, [(p, None) for p in self.unmatched_masks]
                            + [(self.images[k], k) for k in self.lacking if flat], flat=flat)


def pattern_hint(images: dict[str, Path], candidates: list[tuple[Path, str | None]], *, flat: bool) -> str:
    """The suggestion of :meth:`Pairing.hint` for these candidate masks, or ""."""
    guess = guess_pattern(set(images), candidates)
    if guess is None:
        return ""
    pattern, count = guess
    images_left = len(images) - count if flat else len(images)  # in one folder the guessed masks were images
    if 2 * count <= images_left:
        return ""
    return (f"{count} mask(s) seem to be named {describe(pattern)}: pass --mask-pattern \"{pattern}\" "
            f"(load_dataset(..., mask_pattern=\"{pattern}\"))")


def image_files(folder: Path, notes: list[tuple[str, str]]) -> list[Path]:
    """The files of ``folder`` the kit reads as images; other image formats become ``notes``."""
    found = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() in IMAGE_SUFFIXES:
            found.append(p)
        elif p.suffix.lower() in Image.registered_extensions():  # an image format the kit does not read
            notes.append((f"ignored: not {SUFFIX_HINT.replace('|', '/')}", str(p)))
    return found


def _by_key(files: list[tuple[str, Path]], problems: list[str]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for key, path in files:
        if key in out:
            problems.append(f"{path}: same name as {out[key].name}; which one is meant?")
        else:
            out[key] = path
    return out


def _flat_id(path: Path) -> str:
    return path.stem.removesuffix("_img")  # the kit's synthetic sets: <id>_img + <id>_mask


def _layout_files(root: Path, layout: str, namings: list[MaskNaming], notes: list) -> tuple[str, Path, list, list]:
    """(layout, mask folder, image files, candidate mask files) for the chosen or detected layout."""
    if layout not in ("auto", "subfolders", "flat"):
        raise ValueError(f"unknown layout {layout!r}; choose auto, subfolders or flat")
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder")
    if layout in ("auto", "subfolders"):
        for img_name, mask_name in SUBFOLDER_NAMES:
            if (root / img_name).is_dir() and (root / mask_name).is_dir():
                return ("subfolders", root / mask_name, image_files(root / img_name, notes),
                        image_files(root / mask_name, notes))
    files = image_files(root, notes)
    masks = [p for p in files if any(n.key(p) is not None for n in namings)]
    if layout == "flat" or (layout == "auto" and masks):
        return "flat", root, [p for p in files if p not in masks], masks
    inside = sorted(str(p.parent.relative_to(root)) for p in root.glob("*/images") if (p.parent / "masks").is_dir())
    nested = f"; the data set may be in {', '.join(inside)}/ (give that folder)" if inside else ""
    guess = pattern_hint({_flat_id(p): p for p in files}, [(p, _flat_id(p)) for p in files], flat=True)
    raise FileNotFoundError(f"{root}: no image/mask layout found: expected images/ + masks/ subfolders or masks "
                            f"named {' / '.join(n.pattern for n in namings)} beside the images{nested}"
                            + (f"; {guess}" if guess else ""))


def pair_folder(root: Path, layout: str, mask_pattern: str | None, problems: list[str], notes: list) -> Pairing:
    """Find the layout, then the naming under which most images have a mask (or the one given).

    Problems (two files for one id, two namings that pair equally well) are appended to
    ``problems``, ignored files to ``notes``; images without a mask are :meth:`Pairing.missing`.
    """
    given = [mask_naming(mask_pattern)] if mask_pattern is not None else None
    flat_known = [mask_naming(p) for p in KNOWN_PATTERNS if p != "{stem}"]
    layout, mask_dir, image_paths, candidates = _layout_files(root, layout, given or flat_known, notes)
    flat = layout == "flat"
    images = _by_key([(_flat_id(p) if flat else p.stem, p) for p in image_paths], problems)
    namings = given or (flat_known if flat else [mask_naming(p) for p in KNOWN_PATTERNS])
    keys = [{n.key(p) for p in candidates} - {None} for n in namings]
    matches = [len(k & set(images)) for k in keys]
    best = max(range(len(namings)), key=lambda i: (matches[i], len(keys[i])))
    tied = [namings[i].pattern for i in range(len(namings)) if matches[i] == matches[best]]
    tied = [p for p in tied if SECOND_OBSERVER.get(p) not in tied]
    best = next(i for i in range(len(namings)) if namings[i].pattern == tied[0]) if len(tied) == 1 else best
    if matches[best] and len(tied) > 1:
        problems.append(f"{mask_dir}: the masks fit {' and '.join(tied)} alike ({matches[best]} pairs each); "
                        "say which with --mask-pattern (mask_pattern= in load_dataset)")
    naming = namings[best]
    masks = _by_key([(naming.key(p), p) for p in candidates if naming.key(p) is not None], problems)
    unmatched = [p for p in candidates if naming.key(p) is None] + [p for k, p in masks.items() if k not in images]
    return Pairing(layout, naming, images, masks, sorted(unmatched), mask_dir)

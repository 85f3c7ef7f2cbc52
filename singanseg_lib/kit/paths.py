"""Where things are: the package's resources, the kit's checkout (data, notebooks), a run's folders.

Every path the kit computes from its own location is here, so that moving a module never moves
a folder. The checkout layout is ``<root>/singanseg_lib/``, ``<root>/data/``, ``<root>/notebooks/``;
an installed package without a checkout falls back to the working directory.
"""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
CHECKOUT_DIR = PACKAGE_DIR.parent
RESOURCES_DIR = PACKAGE_DIR / "resources"
PRESET_DIR = PACKAGE_DIR / "presets"


def resource(name: str) -> Path:
    """A file shipped with the package (``singanseg_lib/resources/<name>``)."""
    return RESOURCES_DIR / name


def kit_data_dir() -> Path:
    """``data/`` of the kit's checkout (``./data`` when the package was installed elsewhere)."""
    beside = CHECKOUT_DIR / "data"
    return beside if (beside / "sample").is_dir() else Path.cwd() / "data"


def sample_dir() -> Path:
    """The bundled Kvasir-SEG subset, ``data/sample/`` (see ``data/README.md``)."""
    path = kit_data_dir() / "sample"
    if not (path / "images").is_dir():
        raise FileNotFoundError(f"{path}: the bundled sample is not there; it ships with the kit's git checkout")
    return path


def notebook_dir() -> Path:
    """``notebooks/`` of the checkout this library was installed from, else of the working directory."""
    beside = CHECKOUT_DIR / "notebooks"
    return beside if beside.is_dir() else Path.cwd() / "notebooks"

"""Writing files so that nothing is lost: atomic replaces, no silent overwrites, checksums.

Every result file of the kit goes through these functions. A write goes to a temporary file in
the same folder, is flushed to disk and then renamed over the target, so a crash or Ctrl-C leaves
either the old file or the new one, never half of one. A full disk (or quota) while writing is a
:class:`DiskFullError` naming the file; the previous file stays as it was.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


class OutputExistsError(FileExistsError):
    """A result would be overwritten and the caller did not ask for that."""


class DiskFullError(OSError):
    """No space (or quota) left while writing a result; the file it would replace is unchanged."""


# ENOSPC: the disk is full; EDQUOT: the user's quota is (a cluster's usual case); EFBIG: the file
# would exceed the filesystem's size limit. All three leave a half-written temporary file.
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


@contextlib.contextmanager
def atomic_path(path: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    Use it for writers that want a file name (PIL, matplotlib, torch, safetensors). With
    ``overwrite=False`` an existing ``path`` raises :class:`OutputExistsError` before any work.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise OutputExistsError(f"{path} exists; pass overwrite=True (CLI: --overwrite) to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial" + path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; results are meant to be shared
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())  # a full disk often shows only here (delayed allocation)
        os.replace(tmp_path, path)
    except OSError as e:
        if e.errno not in _FULL:
            raise
        before = "the previous file is unchanged" if path.exists() else "nothing was written"
        full = DiskFullError(f"{path}: disk full while writing it ({os.strerror(e.errno)}); {before}. "
                             "Free some space and rerun: finished work is kept")
        full.errno = e.errno
        raise full from None
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, *, overwrite: bool = True) -> Path:
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, overwrite: bool = True) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def _to_jsonable(obj: Any) -> Any:
    """numpy and torch scalars, paths and tuples become plain JSON values."""
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")


def atomic_write_json(path: str | Path, obj: Any, *, overwrite: bool = True) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_to_jsonable, allow_nan=True)
    return atomic_write_text(path, text + "\n", overwrite=overwrite)


def save_image(path: str | Path, image, *, overwrite: bool = True) -> Path:
    """Write a PIL image atomically; the format follows the suffix (PNG for results)."""
    path = Path(path)
    buf = io.BytesIO()
    image.save(buf, format=(path.suffix.lstrip(".") or "png").upper().replace("JPG", "JPEG"))
    return atomic_write_bytes(path, buf.getvalue(), overwrite=overwrite)


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Write a matplotlib ``fig`` as a PNG atomically; return the path. The figure stays open for display."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path


def read_json(path: str | Path) -> Any:
    """Read JSON, naming the file when it is missing or not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e}); the file is damaged or not what it claims") from None


def sha256_file(path: str | Path, *, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_sha256sums(path: str | Path) -> dict[str, str]:
    """Parse a ``sha256sum`` listing (``<hex>  <relative path>``) into {path: hex}."""
    sums = {}
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            raise ValueError(f"{path}:{n}: not a sha256sum line: {line!r}")
        sums[name.strip().lstrip("*")] = digest.lower()
    return sums

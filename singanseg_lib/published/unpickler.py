"""Reading PyTorch ``.pth`` files without running the code a pickle may name.

``torch.save`` writes a Python pickle, and unpickling calls whatever function the file names:
a ``.pth`` from the internet can run ``os.system`` the moment plain ``torch.load`` opens it.
The reference SinGAN-Seg checkpoints are pickles of whole ``nn.Module`` objects, so
``torch.load(weights_only=True)`` refuses them, and ``weights_only=False`` trusts them fully.

:func:`load_pth` reads them with our own :class:`pickle.Unpickler` whose ``find_class`` (the only
door through which a pickle reaches Python objects) resolves an explicit allow-list and nothing
else:

- module classes (the reference's ``SinGAN.models.*`` and the ``torch.nn`` layers it uses) become
  inert :class:`PickledObject` stand-ins that only keep their pickled attributes: no code of
  theirs or torch's runs (no ``__init__``, no ``__setstate__``);
- tensor-rebuild functions are our own re-implementations: a tensor is a strided view of a
  storage we read from the file (never ``torch._utils``);
- storage type names (``torch.FloatStorage``...) map to dtypes; ``OrderedDict`` and ``set``
  are themselves.

Anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) raises
:class:`UnsafePickleError` naming the global and the file, before anything is called.

Why our own unpickler rather than ``torch.load(weights_only=True)`` with extra allowed globals:
that path would instantiate the real ``torch.nn`` classes from pickled state and its
allow-list semantics change between torch releases; here the allow-list is a table in this
file, stand-ins are plain data, and the same code reads both torch file formats:

- the zip format (torch >= 1.6): ``<name>/data.pkl`` plus one file per storage in ``<name>/data/``;
- the legacy format (torch < 1.6): a magic number, the pickle, then the raw storages.

Tensors always land on the CPU, whatever device they were saved from (the published
generators were saved from CUDA). Storages are copied out of the file (never memory-mapped).
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any, BinaryIO

import torch


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The pickle names a global outside the allow-list; nothing it names was called."""


class PthFormatError(ValueError):
    """Not a readable torch file: truncated, damaged, or a layout this reader does not know."""


class PickledObject:
    """Inert stand-in for an allowed pickled class: its pickled attributes, nothing else.

    ``qualname`` is the class the file named; ``attrs`` the state the pickle gave it.
    """

    qualname = "?"

    def __new__(cls, *args: Any):
        # NEWOBJ calls __new__ only, REDUCE calls the class: both end here with the same fields.
        self = super().__new__(cls)
        self.args, self.attrs = args, {}
        return self

    def __setstate__(self, state: Any) -> None:
        # (dict, slots) pairs come from classes with __slots__; keep both parts as data.
        if isinstance(state, tuple) and len(state) == 2:
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.qualname}: state is {type(state).__name__}, not a dict")
        self.attrs.update(state)

    def __repr__(self) -> str:
        return f"<stand-in for {self.qualname}>"


# The classes a reference checkpoint may contain: the reference's modules and the torch layers
# they are built from. Each becomes a PickledObject subclass of the same qualified name.
ALLOWED_CLASSES = frozenset({
    "SinGAN.models.GeneratorConcatSkip2CleanAdd",
    "SinGAN.models.ConvBlock",
    "torch.nn.modules.conv.Conv2d",
    "torch.nn.modules.batchnorm.BatchNorm2d",
    "torch.nn.modules.activation.LeakyReLU",
    "torch.nn.modules.activation.Tanh",
    "torch.nn.modules.container.Sequential",
})

_DTYPES = {"Float": torch.float32, "Double": torch.float64, "Half": torch.float16, "BFloat16": torch.bfloat16,
           "Long": torch.int64, "Int": torch.int32, "Short": torch.int16, "Char": torch.int8,
           "Byte": torch.uint8, "Bool": torch.bool}
# torch.FloatStorage and, in files from old CUDA runs, torch.cuda.FloatStorage.
STORAGE_TYPES = {f"{prefix}{name}Storage": dtype for name, dtype in _DTYPES.items()
                 for prefix in ("torch.", "torch.cuda.")}

_COMPAT_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}  # protocol-2 (Python 2) names


class _StorageType:
    def __init__(self, name: str, dtype: torch.dtype):
        self.name, self.dtype = name, dtype


def _check_view(storage: torch.Tensor, offset: int, size: tuple, stride: tuple) -> None:
    if not (isinstance(offset, int) and all(isinstance(v, int) and v >= 0 for v in (*size, *stride))
            and len(size) == len(stride) and offset >= 0):
        raise pickle.UnpicklingError(f"bad tensor geometry: offset {offset!r}, size {size!r}, stride {stride!r}")
    if 0 not in size:
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= storage.numel():
            raise pickle.UnpicklingError(f"tensor of size {tuple(size)} at offset {offset} runs past its "
                                         f"storage of {storage.numel()} elements")


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored) -> torch.Tensor:
    """Our ``_rebuild_tensor(_v2)``: a view of the storage; requires_grad, hooks and metadata dropped."""
    if not isinstance(storage, torch.Tensor):
        raise pickle.UnpicklingError(f"tensor rebuilt from {type(storage).__name__}, not a storage")
    size, stride = tuple(size), tuple(stride)
    _check_view(storage, storage_offset, size, stride)
    return storage.as_strided(size, stride, storage_offset)


def _rebuild_parameter(data, *_ignored) -> torch.Tensor:
    """Parameters come back as plain tensors (we only read their values)."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError(f"parameter rebuilt from {type(data).__name__}, not a tensor")
    return data


SAFE_CALLABLES = {
    "torch._utils._rebuild_tensor_v2": _rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "collections.OrderedDict": OrderedDict,
    "builtins.set": set,
    "builtins.frozenset": frozenset,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the allow-lists above; storages come from ``read_storage(key, dtype, numel)``."""

    def __init__(self, fh: BinaryIO, *, source: str, read_storage):
        super().__init__(fh)
        self.source, self.read_storage = source, read_storage
        self.standins: dict[str, type] = {}
        self.locations: set[str] = set()

    def find_class(self, module: str, name: str):
        module = _COMPAT_MODULES.get(module, module)
        qualname = f"{module}.{name}"
        if qualname in SAFE_CALLABLES:
            return SAFE_CALLABLES[qualname]
        if qualname in STORAGE_TYPES:
            return _StorageType(qualname, STORAGE_TYPES[qualname])
        if qualname in ALLOWED_CLASSES:
            if qualname not in self.standins:
                self.standins[qualname] = type(name, (PickledObject,), {"qualname": qualname})
            return self.standins[qualname]
        raise UnsafePickleError(
            f"{self.source}: the pickle refers to {qualname!r}, which is not on the allow-list of a "
            "reference checkpoint; refused without calling anything. The file is not a SinGAN-Seg "
            "checkpoint or was tampered with: do not open it with torch.load")

    def persistent_load(self, pid):
        # Legacy files name module classes as ("module", class, source file, source code): the
        # class went through find_class already; the source text is ignored (never compiled).
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == "module":
            if isinstance(pid[1], type) and issubclass(pid[1], PickledObject):
                return pid[1]
            raise pickle.UnpicklingError(f"module persistent id for {pid[1]!r:.100}")
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[4], int) and pid[4] >= 0):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r:.200}")
        if len(pid) > 5 and pid[5] is not None:
            raise PthFormatError(f"{self.source}: storage views (a pre-1.0 torch feature) are not supported")
        self.locations.add(str(pid[3]))
        return self.read_storage(str(pid[2]), pid[1].dtype, pid[4])


def _unpickle(fh: BinaryIO, source: str, read_storage) -> tuple[Any, set[str]]:
    up = _RestrictedUnpickler(fh, source=source, read_storage=read_storage)
    try:
        return up.load(), up.locations
    except (UnsafePickleError, PthFormatError):
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError,
            KeyError, struct.error, RuntimeError, MemoryError) as e:
        raise PthFormatError(f"{source}: damaged or not a torch checkpoint ({type(e).__name__}: {e})") from None


def _storage_from_bytes(data: bytes, dtype: torch.dtype, numel: int, *, little_endian: bool,
                        where: str) -> torch.Tensor:
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if len(data) != numel * itemsize:
        raise PthFormatError(f"{where}: truncated ({len(data)} bytes, {numel} x {itemsize} expected)")
    if numel == 0:
        return torch.empty(0, dtype=dtype)
    flat = torch.frombuffer(bytearray(data), dtype=dtype)
    if not little_endian and itemsize > 1:
        flat = flat.view(torch.uint8).view(-1, itemsize).flip(1).contiguous().view(dtype).view(-1)
    return flat


def _load_zip(path: Path, zf: zipfile.ZipFile) -> tuple[Any, set[str]]:
    names = zf.namelist()
    pkls = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(pkls) != 1:
        raise PthFormatError(f"{path}: a zip, but not a torch checkpoint (no single <name>/data.pkl)")
    prefix = pkls[0][: -len("data.pkl")]
    order = (zf.read(prefix + "byteorder").decode().strip() if prefix + "byteorder" in names else "little")
    cache: dict[str, torch.Tensor] = {}

    def read_storage(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        if key not in cache:
            member = f"{prefix}data/{key}"
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise PthFormatError(f"{path}: storage {member} is missing") from None
            expect = numel * torch.empty(0, dtype=dtype).element_size()
            if info.file_size != expect:  # checked before reading: a lying header cannot make us allocate
                raise PthFormatError(f"{path}: storage {member} has {info.file_size} bytes, {expect} expected")
            cache[key] = _storage_from_bytes(zf.read(member), dtype, numel, little_endian=order == "little",
                                             where=f"{path}: storage {member}")
        return cache[key]

    with zf.open(pkls[0]) as fh:
        return _unpickle(io.BytesIO(fh.read()), str(path), read_storage)


_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


def _load_legacy(path: Path, fh: BinaryIO) -> tuple[Any, set[str]]:
    """torch < 1.6: pickled magic, protocol and sys_info, the object, its storage keys, raw storages."""
    def plain(what: str):
        try:
            return _RestrictedUnpickler(fh, source=str(path), read_storage=None).load()
        except UnsafePickleError:
            raise
        except Exception as e:  # any failure here means: not this format / damaged
            raise PthFormatError(f"{path}: not a torch checkpoint ({what} unreadable: {e})") from None

    if plain("magic number") != _LEGACY_MAGIC:
        raise PthFormatError(f"{path}: neither a torch zip checkpoint nor a legacy one (bad magic number)")
    if plain("protocol version") != _LEGACY_PROTOCOL:
        raise PthFormatError(f"{path}: unknown legacy torch protocol version")
    sys_info = plain("sys_info")
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    pending: dict[str, tuple[torch.dtype, int, torch.Tensor]] = {}

    def read_storage(key: str, dtype: torch.dtype, numel: int) -> torch.Tensor:
        if key not in pending:  # the bytes follow the pickle: allocate now, fill below
            if numel > 1 << 34:
                raise PthFormatError(f"{path}: storage {key} claims {numel} elements")
            pending[key] = (dtype, numel, torch.zeros(numel, dtype=dtype))
        return pending[key][2]

    obj, locations = _unpickle(fh, str(path), read_storage)
    keys = plain("storage key list")
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(pending):
        raise PthFormatError(f"{path}: storage key list does not match the storages the pickle uses")
    for key in keys:
        dtype, numel, flat = pending[str(key)]
        head = fh.read(8)
        if len(head) != 8 or struct.unpack("<q" if little else ">q", head)[0] != numel:
            raise PthFormatError(f"{path}: storage {key} truncated or of the wrong size")
        data = fh.read(numel * flat.element_size())
        flat.copy_(_storage_from_bytes(data, dtype, numel, little_endian=little, where=f"{path}: storage {key}"))
    return obj, locations


def load_pth(path: str | Path) -> tuple[Any, set[str]]:
    """The object in a torch file, built only from allow-listed parts; and the saved devices.

    Returns ``(obj, locations)``; ``locations`` is e.g. ``{"cuda:0"}`` for a file saved from a
    GPU (all tensors are on the CPU here). Raises :class:`UnsafePickleError` for a global off the
    allow-list, :class:`PthFormatError` for a truncated or damaged file, both naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                return _load_zip(path, zf)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, NotImplementedError) as e:
            raise PthFormatError(f"{path}: damaged torch zip checkpoint ({e}); download it again") from None
    with open(path, "rb") as fh:
        start = fh.read(4)
        if start[:2] == b"PK":
            raise PthFormatError(f"{path}: a truncated or damaged zip (torch >= 1.6 checkpoint); download it again")
        if start[:1] != b"\x80":
            raise PthFormatError(f"{path}: not a torch checkpoint (neither a zip nor a pickle)")
        fh.seek(0)
        return _load_legacy(path, fh)


def pickle_globals(path: str | Path) -> list[str]:
    """The globals a torch file's pickle names, read from its opcodes without unpickling anything.

    For teaching and auditing: ``["SinGAN.models.GeneratorConcatSkip2CleanAdd", "builtins.set", ...]``
    (first-seen order). Protocol-4 ``STACK_GLOBAL`` names are resolved from the two strings pushed
    before them.
    """
    import pickletools

    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            pkls = [n for n in zf.namelist() if n.endswith("/data.pkl")]
            data = zf.read(pkls[0]) if pkls else b""
    else:
        data = path.read_bytes()
    found, strings = [], []
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            if op.name in ("GLOBAL", "INST"):
                module, name = arg.split(" ", 1)
                found.append(f"{_COMPAT_MODULES.get(module, module)}.{name}")
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except ValueError as e:  # pickletools stops at the first malformed opcode
        raise PthFormatError(f"{path}: not a readable pickle ({e})") from None
    return list(dict.fromkeys(found))

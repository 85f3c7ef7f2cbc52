"""Presets: named sets of notebook parameters, and frozen configs built from them.

A preset is a flat YAML mapping ``parameter: value`` in ``presets/<name>.yaml`` (or any YAML
file given by path). The runner passes each notebook the entries it declares in its
``parameters`` cell; the CLI builds a stage's config (e.g. ``TrainConfig``) from the entries that
are fields of it. Presets list only what differs from the defaults:

- ``smoke``: seconds per notebook, for CI;
- ``classroom``: a 2-core laptop CPU, minutes per notebook (the notebooks' own defaults);
- ``paper``: the paper's settings (a GPU; hours to days for the full data set).

Stage-specific names carry a prefix where two stages share a knob (``st_`` style transfer,
``seg_`` segmentation); SinGAN-Seg training fields go without one.

:func:`check_type` is the kit's one type checker; :func:`parse_value` reads what a user types
(``singanseg train --set``, ``singanseg run -p``) against a field's declared type before checking it.
"""
from __future__ import annotations

import ast
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from singanseg_lib.kit.paths import PRESET_DIR  # noqa: E402  (re-exported)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(preset: str | Path) -> Path:
    """A preset's YAML file: a built-in name or a path to a ``.yaml`` file."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"preset file {path} does not exist")
        return path
    builtin = PRESET_DIR / f"{preset}.yaml"
    if not builtin.is_file():
        raise KeyError(f"unknown preset {str(preset)!r}; built-in presets: {', '.join(preset_names())} "
                       "(or give the path of a .yaml file)")
    return builtin


def preset_label(preset: str | Path) -> str:
    """The name a run directory gets: the built-in name or the YAML file's stem."""
    return preset_path(preset).stem


def load_preset(preset: str | Path) -> dict[str, Any]:
    """The preset as a flat dict; a nested or non-mapping file raises, naming the file."""
    path = preset_path(preset)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"preset {path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"preset {path}: expected a mapping of parameter: value, got {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"preset {path}: {key!r} is not a valid parameter name")
        if isinstance(value, dict):
            raise ValueError(f"preset {path}: {key} is a mapping; presets are flat (parameter: value)")
    return data


def check_type(name: str, value: Any, hint: Any) -> Any:
    """Return ``value`` if it fits the type hint (ints are accepted for floats), else raise TypeError."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        for arm in typing.get_args(hint):
            try:
                return check_type(name, value, arm)
            except TypeError:
                pass
        raise TypeError(f"{name}: {value!r} is not any of {hint}")
    if hint is type(None):
        if value is None:
            return value
        raise TypeError(f"{name}: expected None, got {value!r}")
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise TypeError(f"{name}: {value!r} is not one of {', '.join(map(repr, typing.get_args(hint)))}")
    if origin in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise TypeError(f"{name}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise TypeError(f"{name}: expected {len(args)} items, got {value!r}")
            items = [check_type(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args))]
        else:
            items = [check_type(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)] if args else list(value)
        return tuple(items) if origin is tuple else items
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError(f"{name}: expected a number, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError(f"{name}: expected an int, got {value!r}")
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        raise TypeError(f"{name}: expected {hint.__name__}, got {value!r}")
    return value


BOOL_WORDS = {"true": True, "false": False, "on": True, "off": False, "yes": True, "no": False}
NONE_WORDS = ("None", "none", "null")


def parse_value(name: str, raw: str, hint: Any) -> Any:
    """A value as a user types it (``--set``, ``-p``), read as ``hint`` says and checked by :func:`check_type`.

    A str or Literal-of-str field keeps the text (YAML would read ``off`` as False); bool fields take
    true/false/on/off/yes/no; ints and floats parse as such (``5e-4`` too, which YAML keeps a str);
    ``None``/``null`` fits an Optional; in a union the string is tried last; lists and tuples are
    ``[a, b]`` or ``a,b``, each item read by its own hint. A wrong value raises TypeError naming the field
    and the choices.
    """
    origin = typing.get_origin(hint)
    if hint is str:
        return raw
    if hint is bool:
        if raw.strip().lower() in BOOL_WORDS:
            return BOOL_WORDS[raw.strip().lower()]
        raise TypeError(f"{name}: expected a bool ({'/'.join(BOOL_WORDS)}), got {raw!r}")
    if hint in (int, float):
        try:
            return hint(raw)
        except ValueError:
            raise TypeError(f"{name}: expected {'an int' if hint is int else 'a number'}, got {raw!r}") from None
    if origin is Literal:
        choices = typing.get_args(hint)
        texts = raw in choices or all(isinstance(c, str) for c in choices)
        return check_type(name, raw if texts else _yaml_value(raw), hint)
    if origin in (Union, types.UnionType):
        arms = sorted(typing.get_args(hint), key=lambda arm: arm is str)  # a str would take any text first
        if type(None) in arms and raw.strip() in NONE_WORDS:
            return None
        for arm in (a for a in arms if a is not type(None)):
            try:
                return parse_value(name, raw, arm)
            except TypeError:
                pass
        raise TypeError(f"{name}: {raw!r} is not any of {hint}")
    if origin in (tuple, list):
        items = _typed_items(raw)
        args = typing.get_args(hint)
        fixed = origin is tuple and bool(args) and args[-1] is not Ellipsis
        item_hints = list(args) if fixed else [args[0] if args else Any] * len(items)
        if len(item_hints) != len(items):
            raise TypeError(f"{name}: expected {len(item_hints)} items, got {raw!r}")
        return check_type(name, [parse_value(f"{name}[{i}]", v, h) for i, (v, h) in
                                 enumerate(zip(items, item_hints))], hint)
    return check_type(name, _yaml_value(raw), hint)


def _typed_items(raw: str) -> list[str]:
    """``[a, b]`` or ``a,b`` as the item texts (YAML's BaseLoader keeps every scalar a str)."""
    try:
        loaded = yaml.load(raw, Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        loaded = None
    return loaded if isinstance(loaded, list) else [s.strip() for s in raw.split(",")]


def _yaml_value(raw: str) -> Any:
    """``raw`` read as YAML (numbers, bools, lists), or the text itself where it is not valid YAML."""
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def parse_fields(cls: type, typed: dict[str, str]) -> dict[str, Any]:
    """``{field: text}`` as a user types them, each read by :func:`parse_value` against the field of the
    dataclass ``cls``; an unknown name raises KeyError listing the fields."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(typed) - set(names))
    if unknown:
        raise KeyError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; valid: {', '.join(names)}")
    return {k: parse_value(f"{cls.__name__}.{k}", raw, hints[k]) for k, raw in typed.items()}


# The names a parameter's annotation may use, as the runner reads it from a notebook (papermill's
# ``inferred_type_name``: the annotation's text, e.g. "int", "Optional[str]", "str | None", "list[int]").
_HINT_NAMES = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "tuple": tuple, "dict": dict,
               "None": None, "Any": Any, "Optional": Optional, "Union": Union, "Literal": Literal}
_HINT_NODES = (ast.Expression, ast.Name, ast.Load, ast.Subscript, ast.Tuple, ast.BinOp, ast.BitOr, ast.Constant)


def hint_from_name(type_name: str | None) -> Any:
    """The type hint an annotation's text names (``"Optional[str]"`` -> ``Optional[str]``), for
    :func:`check_type`; ``None`` when the text is empty or not a hint made of builtins and ``typing``'s
    ``Optional``, ``Union``, ``Literal``, ``Any``."""
    text = (type_name or "").strip().removeprefix("typing.")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    if text in ("", "None") or not all(isinstance(n, _HINT_NODES) for n in ast.walk(tree)):
        return None
    if any(isinstance(n, ast.Name) and n.id not in _HINT_NAMES for n in ast.walk(tree)):
        return None
    try:  # no calls, attributes or other names can be in ``tree``: only the hints of _HINT_NAMES
        return eval(compile(tree, "<annotation>", "eval"), {"__builtins__": {}}, dict(_HINT_NAMES))
    except Exception:  # e.g. "list[int] | 3"
        return None


def make_config(cls: type, values: dict[str, Any] | None = None, /, **overrides: Any):
    """Build the frozen dataclass ``cls`` from ``values`` and ``overrides``.

    Unknown names raise ``KeyError`` listing the valid ones; wrong types raise ``TypeError``.
    """
    merged = {**(values or {}), **overrides}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(merged) - set(fields))
    if unknown:
        raise KeyError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; valid: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    checked = {k: check_type(f"{cls.__name__}.{k}", v, hints[k]) for k, v in merged.items()}
    return cls(**checked)


def config_from_preset(cls: type, preset: str | Path, /, *, prefix: str = "", **overrides: Any):
    """``cls`` built from the preset entries named ``<prefix><field>``, then ``overrides``.

    Entries that are not fields of ``cls`` belong to other stages and are skipped.
    """
    names = {f.name for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    typed = yaml.load(preset_path(preset).read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}  # as written
    values = {}
    for key, value in load_preset(preset).items():
        name = key[len(prefix):]
        if key.startswith(prefix) and name in names:
            values[name] = _yaml_word(value, typed.get(key), hints[name])
    return make_config(cls, values, **overrides)


def _yaml_word(value: Any, written: Any, hint: Any) -> Any:
    """A preset's ``compile_steps: off`` as the word "off": YAML reads an unquoted on/off/yes/no as a
    bool, which no Literal of words can mean, so such a field gets the word as written (and a wrong
    one is refused by :func:`check_type` naming it and the choices)."""
    if isinstance(value, bool) and typing.get_origin(hint) is Literal and isinstance(written, str):
        return written
    return value

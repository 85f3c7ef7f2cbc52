"""The ``singanseg`` command line (also ``python -m singanseg_lib``).

Each module of this package adds one subcommand (or a group) through ``register(subparsers)``
and sets ``func`` to a function taking the parsed arguments and returning an exit code.
Modules are found automatically, so adding a command is adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings

from singanseg_lib import __version__
from singanseg_lib.data.folders import DataWarning
from singanseg_lib.kit.files import DiskFullError, OutputExistsError

# Errors that are the user's to fix: printed as one clear line, no traceback (unless --debug).
__all__ = ["main", "build_parser", "USER_ERRORS"]

USER_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    FileNotFoundError,
    FileExistsError,
    OutputExistsError,
    DiskFullError,
    RuntimeError,
    ConnectionError,
    PermissionError,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="singanseg", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"singanseg-kit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}").register(sub)
    return parser


def _data_warnings_in_one_line(show):
    """``warnings.showwarning`` that prints a data warning as one line: it is about the user's
    file, not our source line. Other warnings go to ``show``."""

    def showwarning(message, category, *args, **kwargs):
        if issubclass(category, DataWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            show(message, category, *args, **kwargs)

    return showwarning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            if not args.debug:
                warnings.showwarning = _data_warnings_in_one_line(warnings.showwarning)
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"singanseg {args.command}: interrupted; finished work is kept and a rerun resumes", file=sys.stderr)
        return 130
    except USER_ERRORS as e:
        if args.debug:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"singanseg {args.command}: error: {msg}", file=sys.stderr)
        return 1

"""Options shared by several subcommands."""
from __future__ import annotations

import argparse


def add_preset_options(parser: argparse.ArgumentParser, default: str = "classroom") -> None:
    parser.add_argument("--preset", default=default,
                        help=f"smoke | classroom | paper, or a .yaml file (default: {default})")
    parser.add_argument("--seed", type=int, default=0, help="random seed, recorded with every output (default: 0)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N | mps (default: auto)")


def parse_overrides(pairs: list[list[str]] | None, option: str = "-p") -> dict[str, str]:
    """``-p name value`` pairs (repeatable) as a dict of the strings typed (read them by the field's
    type with ``presets.parse_value``); a name given twice is an error naming ``option``."""
    out: dict[str, str] = {}
    for name, value in pairs or []:
        if name in out:
            raise ValueError(f"{option} {name} given twice")
        out[name] = value
    return out

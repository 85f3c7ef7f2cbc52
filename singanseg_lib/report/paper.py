"""The SinGAN-Seg paper's published numbers (``resources/paper_results.yaml``, copied from the
paper's Tables 1-5), for side-by-side tables."""
from __future__ import annotations

import copy
from functools import lru_cache

import yaml

from singanseg_lib.kit.paths import resource

PAPER_RESULTS = resource("paper_results.yaml")


@lru_cache(maxsize=1)
def _parsed() -> dict:
    return yaml.safe_load(PAPER_RESULTS.read_text(encoding="utf-8"))


def paper_results() -> dict:
    """The whole YAML as a dict: ``table1_sifid``, ``table4_fid_gans``, ... (see the file's comments).

    The kit's one loader of the paper's numbers (``report.tables`` uses it). The file is parsed
    once per process; each call returns a fresh copy, so a caller may change what it gets.
    """
    return copy.deepcopy(_parsed())

"""The SinGAN-Seg paper's published numbers (``resources/paper_results.yaml``, copied from the
paper's Tables 1-5), for side-by-side tables."""
from __future__ import annotations

from functools import lru_cache

import yaml

from singanseg_lib.kit.paths import resource

PAPER_RESULTS = resource("paper_results.yaml")


@lru_cache(maxsize=1)
def paper_results() -> dict:
    """The whole YAML as a dict: ``table1_sifid``, ``table4_fid_gans``, ... (see the file's comments)."""
    return yaml.safe_load(PAPER_RESULTS.read_text(encoding="utf-8"))

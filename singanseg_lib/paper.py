"""The SinGAN-Seg paper's published numbers (``resources/paper_results.yaml``, a copy of the
workplace's ``paper_results.yaml``: keep the two identical), for side-by-side tables."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PAPER_RESULTS = Path(__file__).resolve().parent / "resources" / "paper_results.yaml"


@lru_cache(maxsize=1)
def paper_results() -> dict:
    """The whole YAML as a dict: ``table1_sifid``, ``table4_fid_gans``, ... (see the file's comments)."""
    return yaml.safe_load(PAPER_RESULTS.read_text(encoding="utf-8"))

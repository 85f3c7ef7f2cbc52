"""Data-set GANs with a 4th (mask) output channel, the paper's baselines (Tables 4 and 5).

DCGAN (Radford et al. 2016) and FastGAN (Liu et al. 2021), written here from their papers (the
official FastGAN code is under a licence the kit cannot take, and nothing is copied from it).
Progressive GAN (Karras et al. 2018), the paper's third baseline, is not built yet: its Table 4
row stays "not run". All share one contract (:class:`base.Baseline`),
one trainer and one way to write their samples as a synthetic set (:mod:`train`). Notebook
05c trains them; ``get("fastgan")`` returns a GAN's class, an unknown name lists the valid ones.
"""
from __future__ import annotations

import importlib

from singanseg_lib.baselines.base import Baseline, threshold_masks

__all__ = ["Baseline", "REGISTRY", "get", "names", "threshold_masks"]

# name (the row key of the paper's Table 4) -> "module:Class"; imported on first use
REGISTRY: dict[str, str] = {
    "dcgan": "singanseg_lib.baselines.dcgan:DCGAN",
    "fastgan": "singanseg_lib.baselines.fastgan:FastGAN",
}


def names() -> list[str]:
    return list(REGISTRY)


def get(name: str) -> type[Baseline]:
    """The class of baseline GAN ``name``; a ``KeyError`` lists the valid names."""
    if name not in REGISTRY:
        raise KeyError(f"unknown baseline GAN {name!r}; valid: {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)

"""Style transfer of a synthetic set on Ray: one task per batch (``style_set(..., backend="ray")``).

The paper's set is 1,000 images at about 20 s each on a GPU. Each task runs
:func:`~singanseg_lib.style.transfer.style_batch` on one batch of the local run (same images,
same working size, one CPU thread), so the styled images are the local backend's; the driver
keeps writing the manifest after every batch, so a rerun resumes. A worker holds VGG19 once,
whatever the number of batches it runs. The weights file must be readable on every node (a
shared file system, or the same ``$SINGANSEG_WEIGHTS_DIR``); random weights are rebuilt from
their seed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import torch

from singanseg_lib.kit.backends import RayBackend, cluster_gpus, ray_session, run_on_ray
from singanseg_lib.kit.weights import ResolvedWeights
from singanseg_lib.style.transfer import load_vgg19, style_batch

__all__ = ["style_batches_on_ray"]

_VGG: dict = {}  # per worker process: (weights, device) -> VGGFeatures


def _ray_batch(set_dir, rows, hw, weights, gpus, task) -> dict:
    torch.set_num_threads(1)
    device = "cuda" if gpus else "cpu"
    if (weights, device) not in _VGG:
        if gpus:  # Ray shows the task only its GPU, as cuda:0
            torch.cuda.set_per_process_memory_fraction(min(1.0, gpus), 0)
        _VGG[weights, device] = load_vgg19(weights=weights, device=device)
    return style_batch(set_dir, rows, hw, _VGG[weights, device], **task)


def style_batches_on_ray(set_dir: str | Path, batches: Sequence[tuple[list[dict], tuple[int, int]]],
                         weights: ResolvedWeights, *, backend: RayBackend, ratio: str, steps: int,
                         out_dir: str | Path, real_dir: str | Path | None = None) -> Iterator[tuple[list[dict], dict]]:
    """Style each ``(rows, (h, w))`` batch in a Ray task; yields ``(rows, losses)`` as batches
    finish. Raises ``RuntimeError`` naming the images of batches that could not be completed,
    after the others finished (their images are kept)."""
    if not batches:  # everything styled already: no Ray to start
        return
    task = dict(ratio=ratio, steps=steps, out_dir=out_dir, real_dir=real_dir)
    failed = []
    with ray_session(backend):
        gpus = cluster_gpus(backend)
        calls = [(Path(set_dir), rows, hw, weights, gpus, task) for rows, hw in batches]
        for i, losses, error in run_on_ray(_ray_batch, calls, backend=backend, gpus=gpus, progress=False):
            if error is None:
                yield batches[i][0], losses
            else:
                failed.append(f"{', '.join(r['image'] for r in batches[i][0])} ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0] if str(error).strip() else ''})")
    if failed:
        raise RuntimeError(f"{set_dir}: {len(failed)} batch(es) could not be styled: {'; '.join(failed)}; "
                           "rerun the same command to style just those")

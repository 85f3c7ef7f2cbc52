"""One model per image, for a list of images: side by side in worker processes on a CPU.

At the sizes a laptop trains (classroom: <= 48 px, width 32), one iteration is a few hundred
small operations, and a second thread speeds a model up by less than 10 % (measured: 98 s with
2 threads, 106 s with 1, for a 48 px model on this 2-core machine). Two single-threaded models
side by side therefore finish about 1.8x sooner than two two-threaded ones in a row. Each
model's training is unchanged (its own seeds, its own folder, resumable per scale); only the
thread count differs, which moves float rounding, not the algorithm (recorded per scale in
model.json as ``threads``). On a GPU one process trains one model at a time.

Worker processes are started with ``spawn`` (safe with torch's thread pools, and in Jupyter);
an interrupt or an error stops them at once: every finished scale is on disk, so a rerun resumes.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

import torch

from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.train import load_training_image, model_status, train_model


@dataclass(frozen=True)
class TrainJob:
    """A model to train: the image id (its folder name), the image file and its mask file."""

    id: str
    image_path: Path
    mask_path: Path


@dataclass
class TrainOutcome:
    """What happened to one job: ``status`` trained | resumed | skipped | failed."""

    id: str
    model_dir: Path
    status: str
    scales: int = 0
    seconds: float = 0.0          # this run
    train_seconds: float = 0.0    # all scales, over every run
    error: str = ""


def auto_workers(cfg: TrainConfig, jobs: int) -> int:
    """One single-threaded process per CPU core (at most one per job) on a CPU; 1 elsewhere."""
    if str(cfg.device).split(":")[0] != "cpu":
        return 1
    return max(1, min(jobs, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def train_one(job: TrainJob, model_dir: Path, cfg: TrainConfig, seed: int, overwrite: bool = False,
              progress: bool = False, threads: int | None = None) -> TrainOutcome:
    """Train (resume, or skip when finished) one model; bad input gives a ``failed`` outcome naming it."""
    if threads:
        torch.set_num_threads(threads)
    status = "absent" if overwrite else model_status(model_dir)
    action = {"absent": "trained", "partial": "resumed", "complete": "skipped"}[status]
    start = time.perf_counter()
    try:
        model = train_model(load_training_image(job.image_path, job.mask_path), model_dir, cfg, seed=seed,
                            overwrite=overwrite, progress=progress,
                            source={"image_id": job.id, "image_path": str(Path(job.image_path).resolve()),
                                    "mask_path": str(Path(job.mask_path).resolve())})
    except (ValueError, FileNotFoundError, OSError) as e:
        return TrainOutcome(job.id, model_dir, "failed", error=str(e))
    return TrainOutcome(job.id, model_dir, action, model.pyramid.num_trained, time.perf_counter() - start,
                        sum(e["seconds"] for e in model.meta["scales"]))


def _train_one_args(args: tuple) -> TrainOutcome:
    return train_one(*args)


def train_many(jobs: Sequence[TrainJob], models_dir: str | Path, cfg: TrainConfig, *, seed: int,
               workers: int = 0, overwrite: bool = False, progress: bool = True,
               on_done: Callable[[TrainOutcome], None] | None = None) -> list[TrainOutcome]:
    """Train one model per job into ``models_dir/<id>``; outcomes in the order of ``jobs``.

    ``workers``: processes side by side (0: :func:`auto_workers`); with more than one, each uses
    ``torch threads // workers`` threads (at least 1) and the progress bar counts models; with
    one, models train in this process with a bar per scale. ``on_done`` is called as each model
    finishes (in completion order).
    """
    from tqdm.auto import tqdm

    models_dir = Path(models_dir)
    workers = workers or auto_workers(cfg, len(jobs))
    todo = [j for j in jobs if overwrite or model_status(models_dir / j.id) != "complete"]
    outcomes: dict[str, TrainOutcome] = {}
    for job in jobs:
        if job not in todo:
            outcomes[job.id] = train_one(job, models_dir / job.id, cfg, seed)  # loads it: "skipped"
            if on_done:
                on_done(outcomes[job.id])
    if workers <= 1 or len(todo) <= 1:
        for job in todo:
            outcomes[job.id] = train_one(job, models_dir / job.id, cfg, seed, overwrite, progress)
            if on_done:
                on_done(outcomes[job.id])
    else:
        threads = max(1, torch.get_num_threads() // workers)
        args = [(job, models_dir / job.id, cfg, seed, overwrite, False, threads) for job in todo]
        pool = get_context("spawn").Pool(workers)
        try:
            with tqdm(total=len(todo), desc=f"models ({workers} side by side, {threads} thread(s) each)",
                      unit="model", disable=not progress) as bar:
                for outcome in pool.imap_unordered(_train_one_args, args):
                    outcomes[outcome.id] = outcome
                    bar.update(1)
                    if on_done:
                        on_done(outcome)
            pool.close()
        except BaseException:  # Ctrl-C or an error: stop the other models now (they resume per scale)
            pool.terminate()
            raise
        finally:
            pool.join()
    return [outcomes[j.id] for j in jobs]

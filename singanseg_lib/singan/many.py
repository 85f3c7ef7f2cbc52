"""One model per image, for a list of images: side by side in worker processes on a CPU.

At the sizes a laptop trains (classroom: <= 48 px, width 32), one iteration is a few hundred
small operations, and a second thread speeds a model up by less than 10 % (measured: 98 s with
2 threads, 106 s with 1, for a 48 px model on this 2-core machine). Two single-threaded models
side by side therefore finish about 1.8x sooner than two two-threaded ones in a row. Each
model's training is unchanged (its own seeds, its own folder, resumable per scale); only the
thread count differs, which moves float rounding, not the algorithm (recorded per scale in
model.json as ``threads``). On a GPU one process trains one model at a time.

With ``fuse=M`` the jobs are first grouped by scale plan (images whose pyramids have the same
sizes: :func:`plan_buckets`) and up to M models of one bucket train as one fused network
(:mod:`~singanseg_lib.singan.fused`: the same models, faster); groups are then the units that
run side by side.

Worker processes are started with ``spawn`` (safe with torch's thread pools, and in Jupyter);
an interrupt stops them at once: every finished scale is on disk, so a rerun resumes. Failures
are per model: any exception while one model trains (bad input, CUDA out of memory, a
RuntimeError) gives that model a ``failed`` outcome, with its traceback in
``<model_dir>/failed.txt``, and the other models go on. ``backend="ray"`` or ``"slurm"`` runs
the same units on a Ray cluster or a Slurm job array (:mod:`~singanseg_lib.singan.backends`).

Every model trains from the run's one ``seed`` (recorded in its model.json; each scale re-seeds
from (seed, scale)), so a model depends only on the seed, its image and the config, never on
which process, retry or backend trained it.
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Sequence

import torch
from PIL import Image

from singanseg_lib.kit.env import resolve_device
from singanseg_lib.kit.files import atomic_write_text
from singanseg_lib.kit.lock import folder_lock
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.pyramid import resize
from singanseg_lib.singan.train import load_training_image, model_status, open_model, train_model


@dataclass(frozen=True)
class TrainJob:
    """A model to train: the image id (its folder name), the image file and its mask file.

    ``resize_to`` (H, W): resize the image and mask to this size before training, set only by
    :func:`snap_aspect` (a deviation from the paper, recorded in the model's model.json).
    """

    id: str
    image_path: Path
    mask_path: Path
    resize_to: tuple[int, int] | None = None


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


def _device_type(cfg: TrainConfig) -> str:
    """"cpu", "cuda" or "mps": "auto" as this machine resolves it; a named device is not checked
    here (training checks it), so a plan for a GPU can be made on a laptop."""
    name = str(cfg.device).lower()
    return resolve_device("auto").type if name == "auto" else name.split(":")[0]


def auto_workers(cfg: TrainConfig, jobs: int) -> int:
    """One single-threaded process per CPU core (at most one per job) on a CPU; 1 elsewhere."""
    if _device_type(cfg) != "cpu":
        return 1
    return max(1, min(jobs, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


# What trained fastest in benchmarks/results/bench_fused_cpu.json (2 cores): 8 models per
# network at the classroom's 48 px (1.22x models per hour); at the paper's finest scale (213x250,
# width 128) two fused models are slower than two alone (0.6x), so larger sizes train alone.
# On one H200 (benchmarks/results/gpu_check.json) fusing is faster at every scale of the paper's
# pyramid, because one small model leaves the GPU launch-bound: 16 models per network already
# give 95 % of what 64 give (274 vs 259 ms per model-iteration summed over the scales, 578 alone)
# with a peak of 20 GB instead of 72 GB at 250 px.
CPU_FUSE, CPU_FUSE_MAX_SIZE, GPU_FUSE = 8, 64, 16


def auto_fuse(cfg: TrainConfig) -> int:
    """Models per fused network by device and size: :data:`CPU_FUSE` on a CPU up to
    :data:`CPU_FUSE_MAX_SIZE` px (1 above), :data:`GPU_FUSE` on a GPU."""
    device = _device_type(cfg)
    if device == "cpu":
        return CPU_FUSE if cfg.max_size <= CPU_FUSE_MAX_SIZE else 1
    return GPU_FUSE if device == "cuda" else 1


def train_one(job: TrainJob, model_dir: Path, cfg: TrainConfig, seed: int, overwrite: bool = False,
              progress: bool = False, threads: int | None = None) -> TrainOutcome:
    """Train (resume, or skip when finished) one model. Any exception gives a ``failed`` outcome
    naming the model, with the traceback in ``model_dir/failed.txt`` (removed by a later success)."""
    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        status = "absent" if overwrite else model_status(model_dir)
        action = {"absent": "trained", "partial": "resumed", "complete": "skipped"}[status]
        model = train_model(job_image(job), model_dir, cfg, seed=seed, overwrite=overwrite, progress=progress,
                            source=_source(job))
    except Exception as e:  # noqa: BLE001 - one model's failure must not stop the others
        return record_failure(job, model_dir, e)
    clear_failure(model_dir)
    return TrainOutcome(job.id, model_dir, action, model.pyramid.num_trained, time.perf_counter() - start,
                        sum(e["seconds"] for e in model.meta["scales"]))


def job_image(job: TrainJob) -> torch.Tensor:
    """The job's 1 x 4 x H x W training tensor, resized to ``job.resize_to`` if set (the kit's
    cubic resize, the mask re-binarised so that it stays a mask)."""
    image = load_training_image(job.image_path, job.mask_path)
    if job.resize_to is None or tuple(image.shape[-2:]) == tuple(job.resize_to):
        return image
    (h, w), (th, tw) = image.shape[-2:], job.resize_to
    out = resize(image, (th / h, tw / w), size=(th, tw)).clamp(-1, 1)
    out[:, 3:] = torch.where(out[:, 3:] > 0, 1.0, -1.0)
    return out


FAILED_FILE = "failed.txt"


def error_line(e: BaseException) -> str:
    """One line for the outcome table: the message of a data error (it names the file), the
    exception's type and first line otherwise."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return text if isinstance(e, (ValueError, OSError)) and text else f"{type(e).__name__}: {text}".rstrip(": ")


def record_failure(job: TrainJob, model_dir: Path, e: BaseException, details: str | None = None) -> TrainOutcome:
    """The ``failed`` outcome of ``job``; its traceback (or ``details``) saved to ``model_dir/failed.txt``."""
    text = details or "".join(traceback.format_exception(e))
    atomic_write_text(Path(model_dir) / FAILED_FILE, f"{job.id} ({job.image_path}, {job.mask_path}) failed:\n{text}")
    return TrainOutcome(job.id, Path(model_dir), "failed", error=error_line(e))


def clear_failure(model_dir: Path) -> None:
    (Path(model_dir) / FAILED_FILE).unlink(missing_ok=True)


def _source(job: TrainJob) -> dict:
    source = {"image_id": job.id, "image_path": str(Path(job.image_path).resolve()),
              "mask_path": str(Path(job.mask_path).resolve())}
    if job.resize_to is not None:
        size = image_size(job.image_path)
        aspect = (job.resize_to[0] / job.resize_to[1]) / (size[0] / size[1])
        source["snapped"] = {"from": list(size), "to": list(job.resize_to), "aspect_change_pct": round(abs(aspect - 1) * 100, 3),
                             "deviation": "resized to share a larger bucket's scale plan for fused training "
                                          "(snap_aspect); the paper trains every image at its own aspect"}
    return source


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image file, from its header."""
    with Image.open(path) as im:
        return im.size[1], im.size[0]


def plan_key(job: TrainJob, cfg: TrainConfig) -> tuple:
    """What fused models must share: the scale plan's sizes and widths (from the image's header,
    or ``job.resize_to``)."""
    plan = cfg.plan(*(job.resize_to or image_size(job.image_path)))
    return tuple(map(tuple, plan.sizes)), tuple(plan.widths)


def plan_buckets(jobs: Sequence[TrainJob], cfg: TrainConfig) -> list[list[TrainJob]]:
    """The jobs grouped by :func:`plan_key`, largest bucket first; unreadable images alone."""
    buckets: dict = {}
    for job in jobs:
        try:
            key = plan_key(job, cfg)
        except (OSError, ValueError):  # reported by its own training attempt, with the file named
            key = ("unreadable", job.id)
        buckets.setdefault(key, []).append(job)
    return sorted(buckets.values(), key=len, reverse=True)


def finest_change_pct(cfg: TrainConfig, size: tuple[int, int], target: tuple[int, int]) -> float:
    """How much an image of ``size`` changes at its finest scale when resized to ``target``
    (largest change of a side, in %)."""
    own, new = cfg.plan(*size).sizes[-1], cfg.plan(*target).sizes[-1]
    return max(abs(a / b - 1) for a, b in zip(new, own)) * 100


def snap_aspect(jobs: Sequence[TrainJob], cfg: TrainConfig, pct: float) -> list[TrainJob]:
    """The jobs, some resized (``resize_to``) into a larger bucket of :func:`plan_buckets`.

    An image moves to the largest bucket, strictly larger than its own, that holds an image whose
    finest scale differs from its own finest scale by at most ``pct`` % on each side; it is then
    resized to that image's size, so its scale plan is exactly the bucket's. What a model trains on
    changes by at most ``pct`` % per side (the aspect, not the content); model.json records it.
    Fewer, fuller buckets mean fewer fused networks (:func:`fused_groups`). ``pct`` 0: unchanged.
    """
    if pct <= 0:
        return list(jobs)
    buckets = plan_buckets(jobs, cfg)
    sizes = {}
    for bucket in buckets:
        for job in bucket:
            try:
                sizes[job.id] = image_size(job.image_path)
                cfg.plan(*sizes[job.id])
            except (OSError, ValueError):
                sizes.pop(job.id, None)
    moved = {}
    for i, bucket in enumerate(buckets):
        for job in bucket:
            if job.id not in sizes:
                continue
            for larger in buckets[:i]:
                if len(larger) <= len(bucket):
                    continue
                change = {m.id: finest_change_pct(cfg, sizes[job.id], sizes[m.id])
                          for m in larger if m.id in sizes and m.id not in moved}  # no chains of moves
                near = min(change, key=change.get, default=None)
                if near is not None and change[near] <= pct:
                    target = next(m for m in larger if m.id == near)
                    moved[job.id] = TrainJob(job.id, job.image_path, job.mask_path, image_size(target.image_path))
                    break
    return [moved.get(job.id, job) for job in jobs]


def fused_groups(jobs: Sequence[TrainJob], cfg: TrainConfig, fuse: int) -> list[list[TrainJob]]:
    """Groups of at most ``fuse`` jobs of one plan, the units of fused training."""
    return [bucket[i:i + fuse] for bucket in plan_buckets(jobs, cfg) for i in range(0, len(bucket), fuse)]


def train_group(jobs: Sequence[TrainJob], model_dirs: Sequence[Path], cfg: TrainConfig, seed: int,
                overwrite: bool = False, progress: bool = False, threads: int | None = None) -> list[TrainOutcome]:
    """Train jobs of one plan fused (:func:`~singanseg_lib.singan.fused.train_fused`); a job whose
    input is bad fails alone, named, and the others train."""
    from singanseg_lib.singan.fused import train_fused

    if threads:
        torch.set_num_threads(threads)
    outcomes, opened, dirs, ids = {}, [], [], []
    for job, model_dir in zip(jobs, model_dirs):
        try:
            status = "absent" if overwrite else model_status(model_dir)
            action = {"absent": "trained", "partial": "resumed", "complete": "skipped"}[status]
            model = open_model(job_image(job), model_dir, cfg, seed=seed, source=_source(job), overwrite=overwrite)
        except Exception as e:  # noqa: BLE001 - this job fails alone
            outcomes[job.id] = record_failure(job, model_dir, e)
            continue
        opened.append(model), dirs.append(model_dir), ids.append((job, action))
    start = time.perf_counter()
    try:
        if opened:
            train_fused(opened, dirs, cfg, progress=progress)
    except Exception as e:  # noqa: BLE001 - one network: its models fail together, the other groups go on
        for (job, _), model_dir in zip(ids, dirs):
            outcomes[job.id] = record_failure(job, model_dir, e)
        return [outcomes[j.id] for j in jobs]
    seconds = (time.perf_counter() - start) / max(1, len(opened))
    for model, model_dir, (job, action) in zip(opened, dirs, ids):
        clear_failure(model_dir)
        outcomes[job.id] = TrainOutcome(job.id, model_dir, action, model.pyramid.num_trained, seconds,
                                        sum(e["seconds"] for e in model.meta["scales"]))
    return [outcomes[j.id] for j in jobs]


def train_unit(jobs: Sequence[TrainJob], model_dirs: Sequence[Path], cfg: TrainConfig, seed: int,
               overwrite: bool = False, progress: bool = False, threads: int | None = None,
               fused: bool = False) -> list[TrainOutcome]:
    """What one worker process, Ray task or Slurm array task runs: a fused group
    (:func:`train_group`) or a single model (:func:`train_one`)."""
    if fused:
        return train_group(jobs, model_dirs, cfg, seed, overwrite, progress, threads)
    return [train_one(jobs[0], model_dirs[0], cfg, seed, overwrite, progress, threads)]


def _train_unit_args(args: tuple) -> list[TrainOutcome]:
    return train_unit(*args)


def train_many(jobs: Sequence[TrainJob], models_dir: str | Path, cfg: TrainConfig, *, seed: int,
               workers: int = 0, fuse: int = 1, overwrite: bool = False, progress: bool = True,
               on_done: Callable[[TrainOutcome], None] | None = None, backend="local") -> list[TrainOutcome]:
    """Train one model per job into ``models_dir/<id>``; outcomes in the order of ``jobs``.

    ``workers``: processes side by side (0: :func:`auto_workers`); with more than one, each uses
    ``torch threads // workers`` threads (at least 1) and the progress bar counts models; with
    one, models train in this process with a bar per scale. ``fuse``: up to this many models of
    one scale plan train as one network (:func:`fused_groups`; 1: each alone). ``on_done`` is
    called as each model finishes (in completion order). ``backend``: ``"local"`` (this
    machine's processes), ``"ray"``, ``"slurm"`` or a :class:`~singanseg_lib.kit.backends.RayBackend` /
    :class:`~singanseg_lib.kit.backends.SlurmBackend` with its options (``workers`` is then unused).
    """
    from tqdm.auto import tqdm

    from singanseg_lib.kit.backends import resolve_backend

    backend = resolve_backend(backend)
    models_dir = Path(models_dir)
    with folder_lock(models_dir, "training SinGAN-Seg models"):  # one writer at a time (kit/lock.py)
        todo = [j for j in jobs if overwrite or model_status(models_dir / j.id) != "complete"]
        outcomes: dict[str, TrainOutcome] = {}

        def done(batch: list[TrainOutcome]) -> None:
            for outcome in batch:
                outcomes[outcome.id] = outcome
                if on_done:
                    on_done(outcome)
        for job in jobs:
            if job not in todo:
                done([train_one(job, models_dir / job.id, cfg, seed)])  # loads it: "skipped"
        units = fused_groups(todo, cfg, fuse) if fuse > 1 else [[job] for job in todo]
        if backend != "local":
            from singanseg_lib.singan.backends import train_units

            for batch in train_units(units, models_dir, cfg, seed=seed, overwrite=overwrite, fused=fuse > 1, backend=backend,
                                     progress=progress):
                done(batch)
            return [outcomes[j.id] for j in jobs]
        dirs = [[models_dir / j.id for j in unit] for unit in units]
        workers = min(workers or auto_workers(cfg, len(todo)), max(1, len(units)))
        if workers <= 1:
            for unit, unit_dirs in zip(units, dirs):
                done(train_unit(unit, unit_dirs, cfg, seed, overwrite, progress, None, fuse > 1))
            return [outcomes[j.id] for j in jobs]
        threads = max(1, torch.get_num_threads() // workers)
        pool = get_context("spawn").Pool(workers)
        try:
            what = f"{len(units)} fused group(s), " if fuse > 1 else ""
            with tqdm(total=len(todo), desc=f"models ({what}{workers} side by side, {threads} thread(s) each)",
                      unit="model", disable=not progress) as bar:
                args = [(unit, unit_dirs, cfg, seed, overwrite, False, threads, fuse > 1) for unit, unit_dirs in zip(units, dirs)]
                for batch in pool.imap_unordered(_train_unit_args, args):
                    done(batch)
                    bar.update(len(batch))
            pool.close()
        except BaseException:  # Ctrl-C: stop the other models now (they resume per scale and inside a scale)
            pool.terminate()
            raise
        finally:
            pool.join()
        return [outcomes[j.id] for j in jobs]

"""Training many models on a Ray cluster or a Slurm job array (``train_many(..., backend=...)``).

The units of work are :func:`~singanseg_lib.singan.many.train_many`'s (one model, or one fused
group of one scale plan) and each runs :func:`~singanseg_lib.singan.many.train_unit`, exactly
what a local worker process runs, with one CPU thread: on a CPU a model is the same bit for bit
whichever backend, worker or retry trained it (its seeds come from the run's seed and its scale
only; ``tests/singan/test_backends.py`` compares the weights). Every finished scale, and the
scale in training every ``state_every`` iterations, is on disk, so:

- a Ray task whose worker process dies (killed, out of host memory, a lost node) is run again
  up to ``max_retries`` times and resumes where the dead one stopped;
- an array task cut off by Slurm (time limit, preemption) resumes when the command is rerun,
  which submits only the models not finished.

On a GPU a Ray unit gets ``gpus_per_model`` of one (Ray sets ``CUDA_VISIBLE_DEVICES``, so it
trains on ``cuda``) and caps its memory at that share, so that four models at 0.25 cannot take
one another's memory. A unit that could not be completed at all (its worker died past its
retries, its array task failed) becomes a ``failed`` outcome of each of its models, with the
reason in their ``failed.txt``; the other units go on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator, Sequence

import torch

from singanseg_lib.kit.backends import RayBackend, SlurmBackend, cluster_gpus, ray_session, run_on_ray, run_on_slurm
from singanseg_lib.kit.files import atomic_write_json
from singanseg_lib.singan.config import TrainConfig
from singanseg_lib.singan.many import TrainJob, TrainOutcome, record_failure, train_unit

__all__ = ["SLURM_LOG", "train_units"]

SLURM_LOG = "slurm.json"  # in each model folder: its array task's job id and log files


def _ray_unit(jobs, model_dirs, cfg, seed, overwrite, gpus, fused) -> list[TrainOutcome]:
    if gpus:  # Ray shows the task only its GPU, as cuda:0
        torch.cuda.set_per_process_memory_fraction(min(1.0, gpus), 0)
    return train_unit(jobs, model_dirs, cfg, seed, overwrite, False, 1, fused)


def _slurm_unit(jobs, model_dirs, cfg, seed, overwrite, threads, fused) -> list[TrainOutcome]:
    for job, model_dir in zip(jobs, model_dirs):  # the array task's log says what it trained
        print(f"training {job.id} ({job.image_path}) into {model_dir}", flush=True)
    outcomes = train_unit(jobs, model_dirs, cfg, seed, overwrite, False, threads, fused)
    for o in outcomes:
        print(f"{o.id}: {o.status}" + (f": {o.error} (traceback in {o.model_dir / 'failed.txt'})" if o.error else
                                       f", {o.scales} scale(s), {o.train_seconds:.0f} s"), flush=True)
    return outcomes


def _unit_failed(jobs: Sequence[TrainJob], model_dirs: Sequence[Path], error: BaseException, where: str) -> list[TrainOutcome]:
    details = f"{where}\n{type(error).__name__}: {error}\n"
    return [record_failure(job, d, error, details=details) for job, d in zip(jobs, model_dirs)]


def train_units(units: Sequence[Sequence[TrainJob]], models_dir: str | Path, cfg: TrainConfig, *, seed: int,
                overwrite: bool, fused: bool, backend: RayBackend | SlurmBackend,
                progress: bool = True) -> Iterator[list[TrainOutcome]]:
    """Train every unit (a list of jobs: one model, or a fused group) into ``models_dir/<id>`` on
    ``backend``; yields each unit's outcomes as it finishes. The device is the backend's: CUDA
    where a unit gets GPUs, else the CPU."""
    models_dir = Path(models_dir)
    dirs = [[models_dir / job.id for job in unit] for unit in units]
    sizes = [len(unit) for unit in units]
    if not units:
        return
    if isinstance(backend, RayBackend):
        with ray_session(backend):
            gpus = cluster_gpus(backend)
            run_cfg = dataclasses.replace(cfg, device="cuda" if gpus else "cpu")
            calls = [(unit, d, run_cfg, seed, overwrite, gpus, fused) for unit, d in zip(units, dirs)]
            desc = f"models on Ray ({len(units)} task(s), {gpus:g} GPU and 1 CPU thread each)"
            for i, outcomes, error in run_on_ray(_ray_unit, calls, backend=backend, gpus=gpus, sizes=sizes,
                                                 desc=desc, progress=progress):
                yield outcomes if error is None else _unit_failed(
                    units[i], dirs[i], error, f"the Ray task did not complete after {backend.max_retries} retries")
        return
    run_cfg = dataclasses.replace(cfg, device="cuda" if backend.gpus_per_model else "cpu")
    calls = [(unit, d, run_cfg, seed, overwrite, backend.cpus_per_model, fused) for unit, d in zip(units, dirs)]
    logs = {}

    def submitted(i: int, job) -> None:
        logs[i] = {"job_id": job.job_id, "stdout": str(job.paths.stdout), "stderr": str(job.paths.stderr)}
        for d in dirs[i]:
            atomic_write_json(d / SLURM_LOG, logs[i])

    log_dir = Path(backend.log_dir) if backend.log_dir else models_dir / ".slurm"
    for i, outcomes, error in run_on_slurm(_slurm_unit, calls, backend=backend, log_dir=log_dir, sizes=sizes,
                                           desc="models", progress=progress, on_submit=submitted):
        yield outcomes if error is None else _unit_failed(
            units[i], dirs[i], error, f"Slurm array task {logs[i]['job_id']} failed; its log: {logs[i]['stderr']}")

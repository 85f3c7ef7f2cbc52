"""Where many independent pieces of work run: this machine, a Ray cluster or a Slurm job array.

The kit schedules nothing itself beyond one machine: a Ray cluster (``ray start --head`` on one
node, ``ray start --address HEAD:6379`` on the others) or Slurm does it. This module holds what
both step packages share: the validated choice of backend (:func:`resolve_backend`), a Ray
session (:func:`ray_session`: join a cluster, or start a local Ray on this machine's cores) and
the two ways of running a list of calls, :func:`run_on_ray` (one task each, ``ray.wait`` feeding
a tqdm bar, workers that die retried ``max_retries`` times) and :func:`run_on_slurm` (one job
array through submitit's ``map_array``). Results come back in completion order; a call whose
worker died past its retries, or whose array task failed, comes back as its exception, so the
caller turns it into that unit's failure and the others go on.

Neither package is imported until a backend is used: ``ray`` and ``submitit`` are in
requirements.txt, but the local backend needs neither.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Literal, Sequence

__all__ = ["BACKENDS", "RayBackend", "SlurmBackend", "resolve_backend", "ray_session", "cluster_gpus",
           "run_on_ray", "run_on_slurm"]

BACKENDS = ("local", "ray", "slurm")


@dataclass(frozen=True)
class RayBackend:
    """Run on Ray: one task per unit of work, one CPU thread each."""

    # None: start a local Ray on this machine's cores; "auto" (the cluster this node joined with
    # `ray start`) or HOST:PORT: join that cluster
    address: str | None = None
    # GPUs per unit; a fraction lets several units share one GPU, each capped at that share of
    # its memory. None: DEFAULT_GPU_SHARE where the cluster has GPUs, else 0 (CPU)
    gpus_per_model: float | None = None
    max_retries: int = 3     # times a task whose worker process died is run again (it resumes)
    name: str = "ray"


@dataclass(frozen=True)
class SlurmBackend:
    """Run as one Slurm job array through submitit (one array task per unit of work)."""

    log_dir: str | None = None       # submitit's folder (default: <output>/.slurm); logs per array task
    partition: str | None = None     # --partition (None: the cluster's default)
    gpus_per_model: int = 0          # GPUs per array task (--gpus-per-node)
    cpus_per_model: int = 1          # --cpus-per-task
    mem_gb: float = 8.0              # --mem
    time_min: int = 24 * 60          # --time per array task; a task cut off resumes on a rerun
    parallelism: int = 64            # array tasks running at once (--array=...%N)
    # auto: Slurm where sbatch is found, else submitit's local executor (processes on this
    # machine, the same code path: what the tests use); slurm | local force one
    executor: Literal["auto", "slurm", "local"] = "auto"
    name: str = "slurm"


def resolve_backend(backend: str | RayBackend | SlurmBackend) -> str | RayBackend | SlurmBackend:
    """``"local"``, or the options object of ``"ray"`` / ``"slurm"`` (defaults) or the one given."""
    if isinstance(backend, (RayBackend, SlurmBackend)):
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return {"local": "local", "ray": RayBackend(), "slurm": SlurmBackend()}[backend]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextlib.contextmanager
def ray_session(backend: RayBackend) -> Iterator[None]:
    """Ray connected for the block: the running session if there is one (a notebook's, a
    test's), else the cluster at ``backend.address``, else a new local Ray on this machine's
    cores (shut down again after the block)."""
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray backend needs Ray: pip install -r requirements.txt (ray is pinned there)") from None
    started = not ray.is_initialized()
    if started:
        if backend.address:
            try:
                ray.init(address=backend.address, log_to_driver=True)
            except ConnectionError as e:
                raise ConnectionError(f"no Ray cluster at --address {backend.address} ({e}); start one with "
                                      "`ray start --head` or leave --address out for a local Ray") from None
        else:
            ray.init(num_cpus=_cores(), include_dashboard=False, log_to_driver=True)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


# What a unit gets of a GPU when the user does not say: four models at the paper's sizes share
# one GPU (a 250 px model holds well under 2 GB), so one small kernel stream never idles a GPU.
DEFAULT_GPU_SHARE = 0.25


def cluster_gpus(backend: RayBackend) -> float:
    """GPUs per unit on the connected cluster: ``backend.gpus_per_model``, or
    :data:`DEFAULT_GPU_SHARE` where the cluster has GPUs and 0 where it has none."""
    import ray

    if backend.gpus_per_model is not None:
        if backend.gpus_per_model < 0:
            raise ValueError(f"gpus_per_model must be 0 or more, got {backend.gpus_per_model}")
        return backend.gpus_per_model
    return DEFAULT_GPU_SHARE if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def run_on_ray(fn: Callable, calls: Sequence[tuple], *, backend: RayBackend, gpus: float = 0.0,
               sizes: Sequence[int] | None = None, desc: str = "tasks", progress: bool = True) -> Iterator[tuple]:
    """Run ``fn(*call)`` for every call as a Ray task (1 CPU, ``gpus`` GPUs) inside a
    :func:`ray_session`; yields ``(index, result, error)`` as tasks finish (``error`` set when the
    task could not be completed, e.g. its worker died ``max_retries + 1`` times). The bar counts
    ``sizes[i]`` per call (models per unit). Leaving early (Ctrl-C, an error) cancels the rest."""
    import ray
    from tqdm.auto import tqdm

    task = ray.remote(fn).options(num_cpus=1, num_gpus=gpus, max_retries=backend.max_retries)
    pending = {task.remote(*call): i for i, call in enumerate(calls)}
    sizes = sizes or [1] * len(calls)
    try:
        with tqdm(total=sum(sizes), desc=desc, unit="model", disable=not progress) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    i = pending.pop(ref)
                    try:
                        yield i, ray.get(ref), None
                    except ray.exceptions.RayError as e:  # the task, not the caller: the others go on
                        yield i, None, e
                    bar.update(sizes[i])
    finally:
        for ref in pending:  # a finished unit is on disk; the cancelled ones resume on a rerun
            ray.cancel(ref, force=True)


def _call(fn: Callable, args: tuple):
    return fn(*args)


def run_on_slurm(fn: Callable, calls: Sequence[tuple], *, backend: SlurmBackend, log_dir: str | Path,
                 sizes: Sequence[int] | None = None, desc: str = "array tasks", progress: bool = True,
                 on_submit: Callable[[int, object], None] | None = None) -> Iterator[tuple]:
    """Submit ``fn(*call)`` for every call as one job array (submitit ``map_array``) and wait;
    yields ``(index, result, error)`` as array tasks finish. ``on_submit(index, job)`` is called
    per task once submitted (its logs: ``job.paths.stdout`` / ``stderr``). Ctrl-C stops waiting,
    not the jobs (``scancel`` them, or wait, before a rerun)."""
    try:
        import submitit
    except ImportError:
        raise RuntimeError("the slurm backend needs submitit: pip install -r requirements.txt") from None
    from tqdm.auto import tqdm

    cluster = None if backend.executor == "auto" else backend.executor
    executor = submitit.AutoExecutor(folder=Path(log_dir) / "%j", cluster=cluster)
    executor.update_parameters(name="singanseg", timeout_min=backend.time_min, cpus_per_task=backend.cpus_per_model,
                               gpus_per_node=backend.gpus_per_model, mem_gb=backend.mem_gb, tasks_per_node=1,
                               slurm_array_parallelism=backend.parallelism,
                               **({"slurm_partition": backend.partition} if backend.partition else {}))
    jobs = executor.map_array(_call, [fn] * len(calls), list(calls))
    index = {job.job_id: i for i, job in enumerate(jobs)}
    for i, job in enumerate(jobs):
        if on_submit:
            on_submit(i, job)
    sizes = sizes or [1] * len(calls)
    with tqdm(total=sum(sizes), desc=f"{desc} ({executor.cluster}, array of {len(jobs)})", unit="model",
              disable=not progress) as bar:
        for job in submitit.helpers.as_completed(jobs, poll_frequency=1 if executor.cluster != "slurm" else 10):
            i = index[job.job_id]
            try:
                yield i, job.result(), None
            except Exception as e:  # noqa: BLE001 - the array task failed (time limit, node failure): that unit only
                yield i, None, e
            bar.update(sizes[i])

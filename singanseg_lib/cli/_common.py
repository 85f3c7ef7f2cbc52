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


def add_backend_options(parser: argparse.ArgumentParser, *, slurm: bool = True) -> None:
    """--backend and the options of the Ray (and Slurm) backends (``kit/backends.py``)."""
    choices = ["local", "ray", "slurm"] if slurm else ["local", "ray"]
    g = parser.add_argument_group("where it runs (README: Beyond one machine)")
    g.add_argument("--backend", choices=choices, default="local",
                   help="local: processes on this machine (default); ray: one Ray task per "
                        + ("model (or fused group)" if slurm else "batch") + ("; slurm: one Slurm job array (submitit)" if slurm else ""))
    g.add_argument("--address", help="ray: the cluster to join, auto or HOST:PORT (default: start a local Ray "
                                     "on this machine's cores)")
    g.add_argument("--gpus-per-model", type=float, default=None, metavar="G",
                   help="ray: share of a GPU per task, e.g. 0.25 = four per GPU (default: 0.25 where the "
                        "cluster has GPUs, else 0)" + ("; slurm: GPUs per array task (default 0)" if slurm else ""))
    g.add_argument("--max-retries", type=int, default=3, help="ray: reruns of a task whose worker died (default 3)")
    if slurm:
        g.add_argument("--partition", help="slurm: partition (default: the cluster's)")
        g.add_argument("--time", type=int, default=24 * 60, metavar="MIN",
                       help="slurm: time limit per array task in minutes (default 1440)")
        g.add_argument("--array-parallelism", type=int, default=64, metavar="N",
                       help="slurm: array tasks running at once (default 64)")
        g.add_argument("--mem-gb", type=float, default=8.0, help="slurm: memory per array task (default 8)")
        g.add_argument("--slurm-log-dir", help="slurm: submitit's log folder (default: <out>/.slurm)")
        g.add_argument("--slurm-executor", choices=["auto", "slurm", "local"], default="auto",
                       help="slurm: auto = Slurm where sbatch is found, else submitit's local executor")


def backend_from_args(args):
    """The ``backend`` argument of ``train_many`` / ``style_set`` from the parsed options."""
    from singanseg_lib.kit.backends import RayBackend, SlurmBackend

    if args.backend == "ray":
        return RayBackend(address=args.address, gpus_per_model=args.gpus_per_model, max_retries=args.max_retries)
    if args.backend == "slurm":
        gpus = args.gpus_per_model or 0
        if gpus != int(gpus):
            raise ValueError(f"--gpus-per-model {gpus}: Slurm gives whole GPUs per array task; use --backend ray to share one")
        return SlurmBackend(log_dir=args.slurm_log_dir, partition=args.partition, gpus_per_model=int(gpus),
                            time_min=args.time, parallelism=args.array_parallelism, mem_gb=args.mem_gb,
                            executor=args.slurm_executor)
    return "local"

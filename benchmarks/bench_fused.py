"""Models per hour, fused (M models as one network) vs one model per process; ratios in one run.

Part 1, classroom settings: ``train_many`` on N copies of one bundled image (one scale plan,
as a bucket of Kvasir-SEG is), first with today's best (one model per worker process, the
default workers), then with ``fuse=M`` for M = 2, 4, 8, 16 (default workers: groups side by
side). Fewer iterations per scale than the preset's 160 (``--iters``): the per-iteration cost is
what fusing changes; models per hour are extrapolated to the preset's iterations.

Part 2, the paper's sizes (max_size 250): milliseconds per model-iteration at scales 0-3 and the
finest, one ScaleTrainer (batch-1 layout, uncompiled) vs FusedScaleTrainer with M models, a few
iterations each after a warm-up. Frozen coarser scales have initial weights (only their cost
matters here).

    python benchmarks/bench_fused.py            # writes benchmarks/results/bench_fused_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import frozen_pyramid, timed  # noqa: E402

from singanseg_lib.data import load_dataset, pick_by_share, sample_dir  # noqa: E402
from singanseg_lib.kit.presets import config_from_preset  # noqa: E402
from singanseg_lib.singan.config import TrainConfig  # noqa: E402
from singanseg_lib.singan.fused import FusedScaleTrainer  # noqa: E402
from singanseg_lib.singan.layout import Layout  # noqa: E402
from singanseg_lib.singan.many import TrainJob, auto_workers, train_many  # noqa: E402
from singanseg_lib.singan.pyramid import build_pyramid  # noqa: E402
from singanseg_lib.singan.step import ScaleTrainer  # noqa: E402
from singanseg_lib.singan.train import init_networks  # noqa: E402


def classroom(n: int, iters: int, fuses: list[int]) -> dict:
    preset = config_from_preset(TrainConfig, "classroom")
    cfg = TrainConfig(**{**preset.to_dict(), "iters_per_scale": iters, "device": "cpu"})
    pair = pick_by_share(load_dataset(sample_dir(), progress=False), 1)[0]
    jobs = [TrainJob(f"copy{i:02d}", pair.image, pair.mask) for i in range(n)]
    rows = []
    for fuse in [1, *fuses]:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            train_many(jobs, tmp, cfg, seed=0, fuse=fuse, progress=False)
            seconds = time.perf_counter() - start
        per_hour = n / seconds * 3600 * iters / preset.iters_per_scale
        rows.append({"fuse": fuse, "workers": auto_workers(cfg, -(-n // fuse)), "seconds": round(seconds, 2),
                     "models_per_hour_at_preset_iterations": round(per_hour, 1)})
        print(rows[-1], flush=True)
    base = rows[0]["seconds"]
    for r in rows:
        r["speedup_vs_one_model_per_process"] = round(base / r["seconds"], 2)
    return {"models": n, "iters_per_scale_measured": iters, "preset_iters_per_scale": preset.iters_per_scale,
            "max_size": cfg.max_size, "image": pair.id, "rows": rows}


def fused_ms(pyr, real: torch.Tensor, cfg: TrainConfig, scale: int, m: int, iters: int) -> float:
    """Milliseconds per model-iteration of M models of one scale fused (M = 1: one ScaleTrainer,
    batch-1 layout), the median of ``iters`` timed iterations after a warm-up."""
    width = pyr.plan.widths[scale]
    trainers = [ScaleTrainer(pyr, real, *(n.to(real.device) for n in init_networks(cfg, scale, width, k, None)), cfg,
                             seed=k, layout=Layout()) for k in range(m)]
    step = trainers[0].step if m == 1 else FusedScaleTrainer(trainers, cfg).step
    step()  # warm-up
    return 1000 * statistics.median(timed(step, real.device) for _ in range(iters)) / m


def paper_scales(fuses: list[int], finest_fuses: list[int], iters: int) -> dict:
    cfg = TrainConfig(max_size=250, iters_per_scale=2000, device="cpu", compile_steps="off")
    plan = cfg.plan(529, 622)  # the size of the reference fixture's polyp
    reals = build_pyramid(torch.rand(1, 4, 529, 622) * 2 - 1, plan)
    out = []
    for scale in [0, 1, 2, 3, plan.num_scales - 1]:
        pyr = frozen_pyramid(plan, cfg, scale, torch.device("cpu"))
        row = {"scale": scale, "size": list(plan.sizes[scale]), "width": plan.widths[scale]}
        for m in (finest_fuses if scale == plan.num_scales - 1 else fuses):
            row[f"ms_per_model_iteration_M{m}"] = round(fused_ms(pyr, reals[scale], cfg, scale, m, iters), 1)
        one = row["ms_per_model_iteration_M1"]
        row["speedup"] = {k.rsplit("_", 1)[1]: round(one / v, 2) for k, v in row.items() if k.startswith("ms_per")}
        print(row, flush=True)
        out.append(row)
    return {"max_size": 250, "image_size": [529, 622], "threads": torch.get_num_threads(), "iterations_timed": iters,
            "alone": "ScaleTrainer, batch-1 layout, uncompiled", "rows": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--iters", type=int, default=20, help="iterations per scale in part 1")
    ap.add_argument("--paper-iters", type=int, default=2, help="timed iterations per scale and M in part 2")
    ap.add_argument("--skip-paper", action="store_true")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "bench_fused_cpu.json")
    args = ap.parse_args()
    result = {"machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads()},
              "date": time.strftime("%Y-%m-%d"),
              "classroom": classroom(args.models, args.iters, [2, 4, 8, 16])}
    if not args.skip_paper:
        result["paper_sizes"] = paper_scales([1, 2, 4, 8, 16], [1, 2], args.paper_iters)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

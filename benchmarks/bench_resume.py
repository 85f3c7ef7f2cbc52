"""What the resumable state costs (singan/resume.py): seconds to write it vs the iterations between two writes.

At the paper's sizes (max_size 250, the reference fixture's 529x622 polyp), scales 0, 4 and the
finest: one ScaleTrainer iteration timed after a warm-up, one ``save_state`` timed, and the cost
as a share of ``state_every`` iterations. The iteration is the batch-1 layout uncompiled (the
compiled one is faster: its share is up to ~1.5x larger).

    python benchmarks/bench_resume.py     # writes benchmarks/results/bench_resume_cpu.json
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import frozen_pyramid  # noqa: E402

from singanseg_lib.singan.config import TrainConfig  # noqa: E402
from singanseg_lib.singan.layout import Layout  # noqa: E402
from singanseg_lib.singan.pyramid import build_pyramid  # noqa: E402
from singanseg_lib.singan.resume import save_state  # noqa: E402
from singanseg_lib.singan.step import ScaleTrainer  # noqa: E402
from singanseg_lib.singan.train import init_networks  # noqa: E402


def main() -> None:
    cfg = TrainConfig(max_size=250, iters_per_scale=2000, device="cpu", compile_steps="off")
    plan = cfg.plan(529, 622)
    reals = build_pyramid(torch.rand(1, 4, 529, 622) * 2 - 1, plan)
    rows = []
    for scale in (0, 4, plan.num_scales - 1):
        G, D = init_networks(cfg, scale, plan.widths[scale], 0, None)
        t = ScaleTrainer(frozen_pyramid(plan, cfg, scale, torch.device("cpu")), reals[scale], G, D, cfg, seed=0,
                         layout=Layout())
        t.step()
        start = time.perf_counter()
        t.step()
        iteration = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            path = save_state(t, Path(tmp) / "state.pt", 0.0)
            write = time.perf_counter() - start
            size = path.stat().st_size
        rows.append({"scale": scale, "size": list(plan.sizes[scale]), "width": plan.widths[scale],
                     "iteration_s": round(iteration, 4), "state_write_s": round(write, 4), "state_mb": round(size / 2**20, 2),
                     "cost_percent_at_state_every": round(100 * write / (cfg.state_every * iteration), 3)})
        print(rows[-1], flush=True)
    out = REPO / "benchmarks" / "results" / "bench_resume_cpu.json"
    out.write_text(json.dumps({"cpus": os.cpu_count(), "torch": torch.__version__, "state_every": cfg.state_every,
                               "date": time.strftime("%Y-%m-%d"), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

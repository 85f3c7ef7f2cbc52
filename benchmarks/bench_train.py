"""Milliseconds per training iteration at every scale: the kit's ScaleTrainer vs the reference's way.

The reference-equivalent iteration (``singanseg_lib/singan/algorithm.py``: CPU uint8 NumPy resize and a
re-run of all coarser generators per critic step, three generator passes, batch-1 everything,
three backward calls per critic step, per-parameter Adam) and ours run interleaved on the same
networks and image, so machine noise hits both alike; the ratio is the result. The emulation was
checked against the reference code itself, interleaved in one process on this kind of machine
(2026-11-29): same operator counts, and within 5 % of its time at scales 0-4.

With the paper's 2,000 iterations per scale, training on a CPU compiles its steps
(``Layout.compiled``); "ours" is then the compiled iteration, "uncompiled" the same iteration
without torch.compile, both interleaved with the reference-equivalent one. "compile s" is what the
first (warm-up) iteration took beyond a timed one: torch.compile's work, less when inductor's
on-disk cache already holds those kernels. It is added to the per-model total.

The reference code's own timings (``benchmarks/reference_timings.yaml``) were recorded
on another day, when the same kind of machine was faster (GEMM 290 GFLOP/s against 200-230 on
the day above): the "ref code ms" column is printed beside today's matrix throughput
(``machine_gemm_gflops``) for that reason, and its ratio is not the result. Not a test: run it
by hand, on an otherwise idle machine if possible.

    python benchmarks/bench_train.py                       # paper settings, 3 iterations per scale
    python benchmarks/bench_train.py --scales 0 4 8 --profile
    python benchmarks/bench_train.py --device cuda --precision bf16
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))


from singanseg_lib.kit.env import resolve_device  # noqa: E402
from singanseg_lib.singan.algorithm import ReferenceIteration  # noqa: E402
from singanseg_lib.singan.config import TrainConfig  # noqa: E402
from singanseg_lib.singan.layout import layout_for  # noqa: E402
from singanseg_lib.singan.models import SinGANPyramid  # noqa: E402
from singanseg_lib.singan.pyramid import build_pyramid, plan_scales  # noqa: E402
from singanseg_lib.singan.step import PhaseTimer, ScaleTrainer  # noqa: E402
from singanseg_lib.singan.train import init_networks, to_training_tensor  # noqa: E402

POLYP = REPO / "tests" / "fixtures" / "reference-singan-seg-ms128" / "polyp_with_4_channels.png"


def load_image(path: Path) -> torch.Tensor:
    rgba = np.array(Image.open(path))
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise SystemExit(f"{path}: expected an RGBA image with the mask in the alpha channel")
    return to_training_tensor(rgba[..., :3], rgba[..., 3] > 127)


def reference_timings() -> dict | None:
    path = Path(__file__).resolve().parent / "reference_timings.yaml"
    if path.exists():
        import yaml
        return yaml.safe_load(path.read_text())
    return None


def frozen_pyramid(plan, cfg, upto: int, device) -> SinGANPyramid:
    """Scales 0..upto-1 with initial weights, frozen: only their cost matters here."""
    pyr = SinGANPyramid(plan)
    for s in range(upto):
        g, _ = init_networks(cfg, s, plan.widths[s], 100 + s, None)
        cl = layout_for(cfg, plan.widths[s], device).g_channels_last
        g.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
        z = torch.randn(1, 1, *plan.sizes[s]).expand(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        pyr.add_scale(g, 1.0 if s == 0 else 0.1, z)
    return pyr.to(device)


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_scale(plan, reals, cfg, scale, device, *, iters: int, reference: bool, profile: bool) -> dict:
    pyr = frozen_pyramid(plan, cfg, scale, device)
    G, D = init_networks(cfg, scale, plan.widths[scale], 0, None)
    real = reals[scale].to(device)
    layout = layout_for(cfg, plan.widths[scale], device)
    ours = ScaleTrainer(pyr, real, copy.deepcopy(G).to(device), copy.deepcopy(D).to(device), cfg, seed=0,
                        layout=layout)
    runs = {"ours": ours}
    if layout.compiled:  # the same iteration uncompiled, for the compiler's share of the gain
        eager = layout_for(dataclasses.replace(cfg, compile_steps="off"), plan.widths[scale], device)
        runs["ours_eager"] = ScaleTrainer(pyr, real, copy.deepcopy(G).to(device), copy.deepcopy(D).to(device), cfg,
                                          seed=0, layout=eager)
    if reference:
        ref_cfg = dataclasses.replace(cfg, precision="fp32")
        runs["reference"] = ReferenceIteration(pyr, real, G.to(device), D.to(device), ref_cfg, seed=0, uint8_resize=True)
    first = {k: timed(r.step, device) for k, r in runs.items()}  # warm-up: caches, compilation
    times = {k: [] for k in runs}
    for _ in range(iters):
        for k, r in runs.items():
            times[k].append(timed(r.step, device))
    out = {"scale": scale, "size": list(plan.sizes[scale]), "width": plan.widths[scale],
           "layout": dataclasses.asdict(ours.layout), **{f"{k}_ms": 1000 * statistics.median(v) for k, v in times.items()},
           **{f"{k}_ms_all": [round(1000 * t, 2) for t in v] for k, v in times.items()}}
    if ours.layout.compiled:  # what the first iteration took beyond a timed one
        out["ours_compile_s"] = round(first["ours"] - statistics.median(times["ours"]), 2)
    if reference:
        out["ratio"] = out["reference_ms"] / out["ours_ms"]
        if "ours_eager_ms" in out:
            out["ratio_eager"] = out["reference_ms"] / out["ours_eager_ms"]
    if profile:
        timer = PhaseTimer(device)
        ours.step(timer)
        out["ours_phases_ms"] = {k: round(1000 * v, 2) for k, v in timer.seconds.items()}
        out["profile"] = {k: profile_ops(r, device) for k, r in runs.items()}
    return out


def profile_ops(runner, device, top: int = 12) -> list[dict]:
    """torch.profiler: the operators taking the most self time in one iteration."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        runner.step()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "calls": e.count, "self_ms": round(e.self_cpu_time_total / 1000, 2),
             "share": round(e.self_cpu_time_total / total, 3)} for e in events[:top]]


def precision_effect(image, cfg, device, precision: str) -> dict:
    """Reconstruction MSE at the finest scale after a short training in fp32 and in ``precision``."""
    import tempfile

    from singanseg_lib.singan import diagnostics as train_summary
    from singanseg_lib.singan import train

    out = {}
    for prec in ("fp32", precision):
        small = dataclasses.replace(cfg, max_size=64, iters_per_scale=200, precision=prec)
        with tempfile.TemporaryDirectory() as tmp:
            model = train.train_model(image, tmp, small, seed=0, progress=False)
            out[prec] = train_summary.reconstruction_errors(model)[-1]
    return {"settings": "max_size 64, 200 iterations per scale, seed 0", "rec_mse_finest": out}


def gemm_gflops(n: int = 2048, reps: int = 5) -> float:
    """float32 matrix-multiply throughput now: how fast this machine is today."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - start) / 1e9


def machine() -> dict:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "machine_gemm_gflops": round(gemm_gflops(), 1),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image", type=Path, default=POLYP, help="RGBA image, mask in alpha (default: the 622x529 polyp)")
    p.add_argument("--scales", type=int, nargs="+", help="scales to time (default: all)")
    p.add_argument("--iters", type=int, default=3, help="timed iterations per scale and implementation")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", default="fp32", choices=("fp32", "tf32", "bf16"), help="ours only")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    p.add_argument("--no-reference", action="store_true", help="time only the kit's iteration")
    p.add_argument("--profile", action="store_true", help="phase breakdown and top operators per timed scale")
    p.add_argument("--out", type=Path, help="JSON file (default: benchmarks/results/bench_train_<device>_<precision>.json)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = TrainConfig(device=str(device), precision=args.precision)
    image = load_image(args.image)
    plan = plan_scales(*image.shape[-2:], max_size=cfg.max_size)
    reals = build_pyramid(image, plan)
    scales = args.scales if args.scales is not None else list(range(plan.num_scales))
    load_before = os.getloadavg()
    rows, host = [], machine()
    print(f"{args.image.name}: {plan.num_scales} scales {plan.sizes[0]} .. {plan.sizes[-1]}; device {device}, "
          f"{torch.get_num_threads()} threads, load {load_before[0]:.2f}, "
          f"GEMM {host['machine_gemm_gflops']} GFLOP/s now", flush=True)
    print(f"{'scale':>5} {'size':>9} {'width':>5} {'ours ms':>9} {'ref-eq ms':>10} {'ratio':>6} "
          f"{'compile s':>9} {'uncompiled ms':>13} {'ratio':>6} {'ref code ms (recorded another day)':>35}")
    ref_yaml = reference_timings()
    ref_code = {e["scale"]: 1000 * e["s_per_iter"] for e in (ref_yaml or {}).get("max_size_250", {}).get("scales", [])}
    for s in scales:
        row = bench_scale(plan, reals, cfg, s, device, iters=args.iters, reference=not args.no_reference,
                          profile=args.profile)
        if s in ref_code and plan.sizes[s] == tuple(next(e["size"] for e in ref_yaml["max_size_250"]["scales"]
                                                         if e["scale"] == s)):
            row["reference_code_ms"] = ref_code[s]
            row["ratio_to_reference_code"] = ref_code[s] / row["ours_ms"]
        rows.append(row)
        print(f"{s:>5} {'x'.join(map(str, row['size'])):>9} {row['width']:>5} {row['ours_ms']:>9.1f} "
              f"{row.get('reference_ms', float('nan')):>10.1f} {row.get('ratio', float('nan')):>6.2f} "
              f"{row.get('ours_compile_s', float('nan')):>9.1f} {row.get('ours_eager_ms', float('nan')):>13.1f} "
              f"{row.get('ratio_eager', float('nan')):>6.2f} {row.get('reference_code_ms', float('nan')):>35.1f}",
              flush=True)
        if args.profile:
            print("   ours, phases (ms):", row["ours_phases_ms"])
            for k, ops in row["profile"].items():
                print(f"   {k}: " + "; ".join(f"{o['op']} {o['share']:.0%}" for o in ops[:8]))
    summary = {}
    if len(rows) == plan.num_scales:
        for k in ("ours", "ours_eager", "reference", "reference_code"):
            if all(f"{k}_ms" in r for r in rows):
                summary[f"{k}_hours_per_model_2000_iters"] = sum(r[f"{k}_ms"] for r in rows) * 2000 / 3.6e6
        if "ours_hours_per_model_2000_iters" in summary:  # compiling is part of a model's time
            summary["ours_hours_per_model_2000_iters"] += sum(r.get("ours_compile_s", 0) for r in rows) / 3600
        if "reference_hours_per_model_2000_iters" in summary:
            summary["ratio_per_model"] = (summary["reference_hours_per_model_2000_iters"]
                                          / summary["ours_hours_per_model_2000_iters"])
            if "ours_eager_hours_per_model_2000_iters" in summary:
                summary["ratio_per_model_uncompiled"] = (summary["reference_hours_per_model_2000_iters"]
                                                         / summary["ours_eager_hours_per_model_2000_iters"])
        print({k: round(v, 2) for k, v in summary.items()})
    if args.precision != "fp32":
        summary["precision_effect"] = precision_effect(image, cfg, device, args.precision)
        print("precision effect:", summary["precision_effect"])
    record = {"benchmark": "bench_train", "image": args.image.name, "settings": "paper (TrainConfig defaults)",
              "precision": args.precision, "device": str(device), "timed_iterations": args.iters,
              "machine": host, "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "scales": rows, "summary": summary}
    out = args.out or Path(__file__).resolve().parent / "results" / f"bench_train_{device.type}_{args.precision}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

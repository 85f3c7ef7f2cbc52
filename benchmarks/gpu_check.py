"""One short run on one GPU: what the paper's 1,000 models cost there (issue 13, part 4).

Sections, each written to the JSON as soon as it is measured (a run stopped by its time limit
still returns what it had):

1. ``per_scale``: milliseconds per iteration at every scale of the paper's pyramid (max_size 250,
   the reference fixture's 529x622 polyp), one model, float32: the kit's ScaleTrainer vs the
   reference-equivalent iteration (:class:`~singanseg_lib.singan.algorithm.ReferenceIteration`),
   interleaved. Uncompiled (torch.compile's minute per scale does not fit the budget; compiling
   only makes the kit faster).
2. ``fused``: milliseconds per model-iteration with M models fused (M = 1 ... 64) at every scale,
   and the peak memory of each; out of memory is recorded, not fatal.
3. ``precision``: fp32 vs tf32 vs bf16 autocast: time per iteration at the finest scale, and the
   reconstruction error after a short training at the paper's sizes (``--quality-iters`` per
   scale, the same seed); samples of each go to ``gpu_check_samples.safetensors`` (uint8, one
   file) to score SIFID on a CPU afterwards (``--score``).
4. ``projection``: GPU-hours for 1,000 paper models (2,000 iterations at each scale of this
   plan): one model per process (the kit, fp32) and fused at the best M per scale.

    benchmarks/gpu_check.sh                 # on the GPU machine: PYTHONPATH=. python3 ...
    benchmarks/gpu_check.sh --dry-run       # tiny sizes on any machine (a test runs it)
    python benchmarks/gpu_check.py --score benchmarks/results/gpu_check_samples.safetensors

Needs only torch, numpy, safetensors, PyYAML, tqdm and Pillow for the GPU part (what the GPU
machine has); ``--score`` uses the kit's SIFID and says which Inception weights it used.
"""
from __future__ import annotations

import argparse
import dataclasses
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

from bench_fused import fused_ms  # noqa: E402
from bench_train import POLYP, bench_scale, frozen_pyramid, load_image  # noqa: E402

from singanseg_lib.kit.files import atomic_write_json  # noqa: E402
from singanseg_lib.singan.config import TrainConfig  # noqa: E402
from singanseg_lib.singan.pyramid import build_pyramid  # noqa: E402

PAPER_MODELS, PAPER_ITERS = 1000, 2000
FUSES = [1, 2, 4, 8, 16, 32, 64]
SECTIONS = ("per_scale", "fused", "precision")
DRY = {"max_size": 40, "fuses": [1, 2, 4], "iters": 2, "quality_iters": 4, "samples": 2}


class Budget:
    """Seconds left of ``total``; sections ask before they start a measurement."""

    def __init__(self, total: float):
        self.end = time.monotonic() + total

    def left(self) -> float:
        return self.end - time.monotonic()


def is_oom(e: BaseException) -> bool:
    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def peak_memory(device: torch.device, fn):
    """``fn()`` and the peak memory it allocated (MiB; None on a CPU)."""
    if device.type != "cuda":
        return fn(), None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    out = fn()
    return out, round(torch.cuda.max_memory_allocated(device) / 2 ** 20, 1)


def per_scale(plan, reals, cfg, device, iters: int, budget: Budget) -> list[dict]:
    rows = []
    for scale in range(plan.num_scales):
        if budget.left() < 30:
            rows.append({"scale": scale, "skipped": "time budget"})
            continue
        r = bench_scale(plan, reals, cfg, scale, device, iters=iters, reference=True, profile=False)
        rows.append({k: r[k] for k in ("scale", "size", "width", "ours_ms", "reference_ms", "ratio")})
        print("per_scale", rows[-1], flush=True)
    return rows


def fused(plan, reals, cfg, device, fuses: list[int], iters: int, budget: Budget) -> list[dict]:
    rows = []
    for scale in range(plan.num_scales):
        pyr = frozen_pyramid(plan, cfg, scale, device)
        row = {"scale": scale, "size": list(plan.sizes[scale]), "width": plan.widths[scale], "ms_per_model_iteration": {},
               "peak_mib": {}}
        for m in fuses:
            if budget.left() < 20:
                row["ms_per_model_iteration"][f"M{m}"] = "skipped: time budget"
                continue
            try:
                ms, peak = peak_memory(device, lambda: fused_ms(pyr, reals[scale].to(device), cfg, scale, m, iters))
            except (RuntimeError, torch.OutOfMemoryError) as e:
                if not is_oom(e):
                    raise
                row["ms_per_model_iteration"][f"M{m}"] = "out of memory"
                break
            row["ms_per_model_iteration"][f"M{m}"], row["peak_mib"][f"M{m}"] = round(ms, 3), peak
        times = {k: v for k, v in row["ms_per_model_iteration"].items() if isinstance(v, float)}
        if times:
            row["best"] = min(times, key=times.get)
            row["speedup_best_vs_M1"] = round(times["M1"] / times[row["best"]], 2) if "M1" in times else None
        rows.append(row)
        print("fused", row, flush=True)
    return rows


def precision(image, cfg, device, quality_iters: int, samples: int, iters: int, budget: Budget,
              samples_out: Path) -> dict:
    """Time at the finest scale and a short training's reconstruction error, per precision."""
    from safetensors.torch import save_file

    from singanseg_lib.sampling.generate import generate_samples, to_uint8
    from singanseg_lib.singan import diagnostics, train

    plan = cfg.plan(*image.shape[-2:])
    reals = build_pyramid(image, plan)
    out, tensors = {}, {}
    for prec in ("fp32", "tf32", "bf16"):
        if prec == "tf32" and device.type != "cuda":
            out[prec] = {"skipped": "TF32 is a CUDA setting"}
            continue
        if budget.left() < 60:
            out[prec] = {"skipped": "time budget"}
            continue
        c = dataclasses.replace(cfg, precision=prec)
        finest = bench_scale(plan, reals, c, plan.num_scales - 1, device, iters=iters, reference=False, profile=False)
        short = dataclasses.replace(c, iters_per_scale=quality_iters)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            model = train.train_model(image, tmp, short, seed=0, progress=False)
            rec = diagnostics.reconstruction_errors(model)
            imgs = generate_samples(model.pyramid, samples, seed=0).images
        tensors[prec] = torch.from_numpy(to_uint8(imgs)).contiguous()
        out[prec] = {"finest_ms": round(finest["ours_ms"], 3), "train_seconds": round(time.perf_counter() - start, 1),
                     "rec_mse_per_scale": [round(r, 6) for r in rec], "rec_mse_finest": rec[-1]}
        print("precision", prec, out[prec], flush=True)
    if tensors:
        tensors["real"] = torch.from_numpy(to_uint8(reals[-1][:, :3].cpu())).contiguous()
        save_file(tensors, str(samples_out), metadata={"iters_per_scale": str(quality_iters), "seed": "0"})
    return {"settings": f"max_size {cfg.max_size}, {quality_iters} iterations per scale, seed 0, {samples} samples",
            "samples_file": samples_out.name, **out}


def projection(per: list[dict], fus: list[dict]) -> dict:
    """GPU-hours for the paper's 1,000 models at 2,000 iterations per scale of this plan."""
    alone = [r.get("ours_ms") for r in per]
    best = [r["ms_per_model_iteration"].get(r.get("best")) if r.get("best") else None for r in fus]
    hours = {}
    for name, ms in (("one_model_per_process_fp32", alone), ("fused_best_m_fp32", best)):
        hours[name] = (round(sum(ms) * PAPER_ITERS * PAPER_MODELS / 3.6e6, 2)
                       if ms and all(isinstance(v, float) for v in ms) else "incomplete")
    ref = [r.get("reference_ms") for r in per]
    if ref and all(isinstance(v, float) for v in ref):
        hours["reference_equivalent_fp32"] = round(sum(ref) * PAPER_ITERS * PAPER_MODELS / 3.6e6, 2)
    return {"models": PAPER_MODELS, "iters_per_scale": PAPER_ITERS, "gpu_hours": hours,
            "note": "every image assumed to have this plan (Kvasir-SEG's plans at 250 px all have 9 scales of "
                    "these sizes within a few px); fused assumes full buckets of the best M"}


def score(path: Path) -> dict:
    """SIFID of each precision's samples against the real image (run on a CPU)."""
    from safetensors.torch import load_file

    from singanseg_lib.metrics.inception import load_inception
    from singanseg_lib.metrics.sifid import sifid

    t = load_file(str(path))
    net = load_inception("fid", allow_random=True)
    real = t.pop("real")[0].numpy()
    w = net.weights
    out = {"weights": {"name": w.name, "source": w.source, "provenance": w.provenance, "random": w.random}, "sifid": {}}
    for prec, imgs in t.items():  # N x H x W x 3 uint8
        vals = [sifid(real, img.numpy(), net) for img in imgs]
        out["sifid"][prec] = {"mean": float(statistics.mean(vals)), "values": vals}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help=f"tiny sizes, any device ({DRY})")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--budget-s", type=float, default=420, help="stop starting measurements after this (default 420)")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations per measurement")
    ap.add_argument("--quality-iters", type=int, default=150, help="iterations per scale of the precision trainings")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", REPO / "benchmarks" / "results")))
    ap.add_argument("--score", type=Path, help="score a samples file with SIFID (CPU) and exit")
    ap.add_argument("--only", choices=SECTIONS, help="run one section (its own JSON: gpu_check_SECTION.json)")
    args = ap.parse_args(argv)
    if args.score:
        result = score(args.score)
        atomic_write_json(args.score.with_name("gpu_check_sifid.json"), result)
        print(json.dumps(result, indent=1))
        return 0
    from singanseg_lib.kit.env import resolve_device

    device = resolve_device(args.device)
    torch.manual_seed(0)
    max_size, fuses, iters, qiters, n = 250, FUSES, args.iters, args.quality_iters, args.samples
    if args.dry_run:
        max_size, fuses, iters, qiters, n = DRY["max_size"], DRY["fuses"], DRY["iters"], DRY["quality_iters"], DRY["samples"]
    budget = Budget(args.budget_s)
    cfg = TrainConfig(max_size=max_size, iters_per_scale=PAPER_ITERS, device=str(device), compile_steps="off")
    image = load_image(POLYP).to(device)
    plan = cfg.plan(*image.shape[-2:])
    reals = build_pyramid(image, plan)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "gpu_check" + (f"_{args.only}" if args.only else "") + ("_dry_run" if args.dry_run else "")
    out_json = args.out / f"{stem}.json"
    result = {"dry_run": args.dry_run, "date": time.strftime("%Y-%m-%d %H:%M"), "torch": torch.__version__,
              "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads",
              "plan": {"sizes": [list(s) for s in plan.sizes], "widths": list(plan.widths)}, "timed_iterations": iters}

    def save() -> None:
        atomic_write_json(out_json, result)
    for name, run in (("per_scale", lambda: per_scale(plan, reals, cfg, device, iters, budget)),
                      ("fused", lambda: fused(plan, reals, cfg, device, fuses, iters, budget)),
                      ("precision", lambda: precision(image, cfg, device, qiters, n, iters, budget,
                                                      args.out / f"{stem}_samples.safetensors"))):
        if args.only and name != args.only:
            continue
        start = time.perf_counter()
        result[name] = run()
        result[f"{name}_seconds"] = round(time.perf_counter() - start, 1)
        if name == "fused" and "per_scale" in result:
            result["projection"] = projection(result["per_scale"], result["fused"])
        save()
    print(json.dumps(result.get("projection", result.get(args.only)), indent=1))
    print(f"wrote {out_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

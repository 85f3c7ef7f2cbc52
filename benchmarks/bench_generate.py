"""Generation speed: samples per second, batched vs one by one, at the paper's size.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_generate.py [--samples 50] [--chunk 10] [--rounds 1] [--device auto]

The model has the ``paper`` plan of the reference example polyp (622 x 529 px: 9 scales, 25 x 30
up to 213 x 250, widths 32 / 64 / 128) with **random-init weights**: speed does not depend on
the weights, so no trained model is needed (the samples are noise). Start scale 0, the same 50
seeds in every mode. Modes run interleaved in pieces of ``--chunk`` samples; the fastest piece of
each mode counts (other work on a shared machine only ever slows a piece down) and the mean of
all pieces is printed beside it.

- ``reference-style``: one sample at a time through ``SinGANPyramid.generate`` as stored
  (BatchNorm separate, NCHW): the reference package's loop without its host round trips;
- ``one-by-one`` / ``batched``: :func:`generate.generate_samples` (BatchNorm folded, channels-last)
  with batch size 1 / the default (memory-aware) batch size (5 here);
- ``batched bf16``: the same with ``precision="bfloat16"`` (not the default; its pixel error is
  printed);
- ``+ PNG``: the full export (:func:`synthetic.export_models`: model loading, generation, uint8
  conversion, two PNGs per sample written atomically, manifest), into a new folder each time.
  Samples of random weights look like noise and compress badly, so PNG time is an upper bound.

Also printed: where the time of one batched run goes (per scale, noise drawing, PNG writing),
and the reference code's numbers on a 2-core CPU (``benchmarks/reference_timings.yaml``).
Results are saved as JSON (``--out``).
"""
from __future__ import annotations

import argparse
import io
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

from singanseg_lib.kit.env import environment_info, resolve_device
from singanseg_lib.kit.files import atomic_write_json
from singanseg_lib.sampling import generate, synthetic
from singanseg_lib.singan import checkpoint, models
from singanseg_lib.singan.pyramid import plan_scales, upsample_to

# benchmarks/reference_timings.yaml, max_size_250, start scale 0 (seconds per sample, 2-core CPU)
REFERENCE = {"compute_only": 0.346, "with_png_writes": 0.425}


def cpu_busy_share(window: float = 1.0) -> float:
    """Share of all CPU time spent busy over ``window`` seconds (Linux /proc/stat), while we sleep."""
    def sample():
        with open("/proc/stat") as fh:
            values = [int(v) for v in fh.readline().split()[1:]]
        return values[3] + values[4], sum(values)  # idle + iowait, total
    idle0, total0 = sample()
    time.sleep(window)
    idle1, total1 = sample()
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_idle(limit_s: float, max_busy: float = 0.15) -> bool:
    """Wait (at most ``limit_s``) until other work leaves the CPUs nearly idle; True if it did."""
    if limit_s <= 0 or not os.path.exists("/proc/stat"):
        return True
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if cpu_busy_share() < max_busy:
            return True
    return False


def random_model(model_dir: Path, seed: int = 0) -> None:
    """A random-init model with the paper plan of a 529 x 622 polyp image, saved like a trained one."""
    torch.manual_seed(seed)
    plan = plan_scales(529, 622)
    meta = checkpoint.new_meta(plan, channels=4, seed=seed, config={"weights": "random init (benchmark)"},
                               source={"image_id": "bench", "image_path": "bench.png", "mask_path": "bench_mask.png"})
    for s, width in enumerate(plan.widths):
        g = models.ScaleGenerator(4, (width,) * 4)
        models.init_weights(g)
        z = torch.randn(1, 4, *plan.sizes[s]) if s == 0 else torch.zeros(1, 4, *plan.sizes[s])
        meta = checkpoint.save_scale(model_dir, meta, s, g.eval(), noise_amp=1.0 if s == 0 else 0.1, z_opt=z,
                                     real=torch.zeros(1, 4, *plan.sizes[s]))


def scale_gflop(plan, s: int, channels: int = 4) -> float:
    """Multiply-adds x 2 of the 5 unpadded 3x3 convolutions of scale s's generator, per sample."""
    h, w = (n + 2 * models.PAD for n in plan.sizes[s])
    width, flop = plan.widths[s], 0
    for i, (cin, cout) in enumerate([(channels, width), (width, width), (width, width), (width, width),
                                     (width, channels)]):
        flop += 2 * 9 * cin * cout * (h - 2 * (i + 1)) * (w - 2 * (i + 1))
    return flop / 1e9


def reference_style(pyramid, seeds: list[int]) -> None:
    plan = pyramid.plan
    with torch.inference_mode():
        for seed in seeds:
            noises = [n[None].to(pyramid.device) for n in generate.sample_noises(plan, seed)]
            pyramid.generate(noises)


def profile(pyramid, seeds: list[int], batch_size: int) -> dict:
    """Seconds per sample of each part of a batched fused run."""
    plan, fast = pyramid.plan, generate.sampling_copy(pyramid)
    parts = {f"scale {s} {h}x{w} (width {plan.widths[s]})": 0.0 for s, (h, w) in enumerate(plan.sizes)}
    parts.update({"noise drawing": 0.0, "upsampling between scales": 0.0, "split + uint8": 0.0,
                  "PNG encoding (2 per sample)": 0.0})
    keys = list(parts)
    with torch.inference_mode():
        for i in range(0, len(seeds), batch_size):
            chunk = seeds[i:i + batch_size]
            t = time.perf_counter()
            per = [generate.sample_noises(plan, s) for s in chunk]
            noises = [torch.stack([n[s] for n in per]).to(pyramid.device, memory_format=torch.channels_last)
                      for s in range(plan.num_scales)]
            parts["noise drawing"] += time.perf_counter() - t
            out = None
            for s in range(plan.num_scales):
                t = time.perf_counter()
                prev = (torch.zeros_like(noises[0]) if s == 0 else upsample_to(out, plan, s))
                parts["upsampling between scales"] += time.perf_counter() - t
                t = time.perf_counter()
                out = fast.run_scale(s, noises[s], prev)
                if out.is_cuda:
                    torch.cuda.synchronize()
                parts[keys[s]] += time.perf_counter() - t
            t = time.perf_counter()
            images = generate.to_uint8(out[:, :3].float().clamp(-1, 1).contiguous().cpu())
            masks = (out[:, 3] > 0).cpu().numpy().astype("uint8") * 255
            parts["split + uint8"] += time.perf_counter() - t
            t = time.perf_counter()
            for img, msk in zip(images, masks):
                for arr, mode in ((img, "RGB"), (msk, "L")):
                    Image.fromarray(arr, mode=mode).save(io.BytesIO(), format="PNG")
            parts["PNG encoding (2 per sample)"] += time.perf_counter() - t
    return {k: v / len(seeds) for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50, help="samples per mode and round")
    ap.add_argument("--chunk", type=int, default=10, help="samples per interleaved piece (a multiple of the batch)")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--wait-idle", type=float, default=0, metavar="S",
                    help="before each piece wait up to S seconds for the CPUs to be idle (shared machines)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_generate.json"))
    args = ap.parse_args()
    device = resolve_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="bench_generate_"))
    random_model(tmp / "model")
    pyramid = checkpoint.load_model(tmp / "model", device=device).pyramid
    seeds = [generate.sample_seed(0, k) for k in range(args.samples)]
    batch = generate.default_batch_size(pyramid.plan, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    fresh = iter(range(10**6))

    def export(chunk, batch_size):  # a new folder each time: an existing set would be skipped (resume)
        synthetic.export_models(tmp / "model", tmp / f"set_{next(fresh)}", n_per_model=len(chunk),
                                batch_size=batch_size, progress=False, device=device)

    modes = {
        "reference-style (one by one, plain)": lambda c: reference_style(pyramid, c),
        "one-by-one (fused)": lambda c: generate.generate_from_seeds(pyramid, c, batch_size=1),
        f"batched (fused, batch {batch})": lambda c: generate.generate_from_seeds(pyramid, c, batch_size=batch),
        f"batched bf16 (batch {batch})": lambda c: generate.generate_from_seeds(pyramid, c, batch_size=batch,
                                                                               precision="bfloat16"),
        "one-by-one + PNG": lambda c: export(c, 1),
        f"batched + PNG (batch {batch})": lambda c: export(c, batch),
    }
    for fn in modes.values():  # warm-up: kernels for every batch shape, caches
        fn(seeds[:batch])
    # Pieces of --chunk samples, modes interleaved piece by piece: a burst of other work on a shared
    # machine then hits all modes alike, and the fastest piece of each mode shows its own speed.
    pieces = {k: [] for k in modes}
    busy_pieces = 0
    for r in range(args.rounds):
        for start in range(0, args.samples, args.chunk):
            chunk = seeds[start:start + args.chunk]
            for name, fn in modes.items():
                busy_pieces += not wait_for_idle(args.wait_idle)
                sync()
                t = time.perf_counter()
                fn(chunk)
                sync()
                pieces[name].append((time.perf_counter() - t) / len(chunk))
            print(f"round {r + 1}, samples {start}..{start + len(chunk) - 1}: "
                  + ", ".join(f"{v[-1]:.3f}" for v in pieces.values()) + " s/sample", flush=True)
    times = {k: sum(v) / len(v) for k, v in pieces.items()}
    best = {k: min(v) for k, v in pieces.items()}
    print(f"load average (1, 5, 15 min): {os.getloadavg()} on {os.cpu_count()} CPUs; pieces started on a busy "
          f"machine: {busy_pieces} of {sum(len(v) for v in pieces.values())}")
    base = best["reference-style (one by one, plain)"]

    full = generate.generate_from_seeds(pyramid, seeds[:10], batch_size=batch)
    half = generate.generate_from_seeds(pyramid, seeds[:10], batch_size=batch, precision="bfloat16")
    bf16_error = {"mean_abs": float((full.images - half.images).abs().mean()),
                  "max_abs": float((full.images - half.images).abs().max()),
                  "mask_pixels_differing": float((full.masks != half.masks).float().mean()),
                  "note": "random-init weights; images in [-1, 1] (one grey level = 0.0078)"}
    profile(pyramid, seeds[:batch], batch)  # warm-up of the profiled path
    parts = profile(pyramid, seeds, batch)

    print(f"\n{args.samples} samples x {args.rounds} round(s) per mode at {pyramid.plan.sizes[-1][0]}x"
          f"{pyramid.plan.sizes[-1][1]}, start scale 0, {device}, {torch.get_num_threads()} threads, random-init "
          f"weights; pieces of {args.chunk}: fastest piece (mean of all pieces)")
    print(f"{'mode':42s} {'s/sample':>16s} {'samples/s':>9s} {'vs ref-style':>12s} {'vs reference code':>17s}")
    for name, t in best.items():
        ref = REFERENCE["with_png_writes" if "PNG" in name else "compute_only"]
        print(f"{name:42s} {t:7.4f} ({times[name]:6.3f}) {1 / t:9.2f} {base / t:11.2f}x {ref / t:16.2f}x")
    print(f"\nbfloat16 vs float32: {bf16_error}")
    print("\nwhere the time of the batched float32 run goes (s/sample):")
    total = sum(parts.values())
    gflop = [scale_gflop(pyramid.plan, s) for s in range(pyramid.plan.num_scales)]
    for i, (k, v) in enumerate(parts.items()):
        rate = f"  {gflop[i]:6.2f} GFLOP, {gflop[i] / v:5.0f} GFLOP/s" if i < len(gflop) else ""
        print(f"  {k:40s} {v:8.4f}  {100 * v / total:5.1f} %{rate}")
    print(f"  total {sum(gflop):.1f} GFLOP per sample: at the 235 GFLOP/s ceiling of a 3x3 128-channel "
          f"convolution on 2 threads here, {sum(gflop) / 235:.3f} s/sample at best in float32")
    record = {"samples": args.samples, "rounds": args.rounds, "size": list(pyramid.plan.sizes[-1]),
              "plan_sizes": [list(s) for s in pyramid.plan.sizes], "widths": list(pyramid.plan.widths),
              "weights": "random init (timing only)", "start_scale": 0, "batch_size": batch,
              "chunk": args.chunk, "s_per_sample_fastest_piece": best, "s_per_sample_mean": times,
              "s_per_sample_pieces": pieces,
              "speedup_vs_reference_style": {k: base / v for k, v in best.items()},
              "reference_code_s_per_sample": REFERENCE, "bf16_error": bf16_error, "profile_s_per_sample": parts,
              "gflop_per_sample_per_scale": gflop,
              "load_average_1_5_15_min_at_end": os.getloadavg(), "wait_idle_s": args.wait_idle,
              "pieces_started_busy": busy_pieces, "environment": environment_info(device)}
    atomic_write_json(args.out, record)
    shutil.rmtree(tmp)
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()

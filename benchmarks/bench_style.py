"""Style transfer speed: milliseconds per Adam step per image, batched vs one image at a time.

    python benchmarks/bench_style.py [--sizes 64 128] [--batch 4] [--steps 10] [--out bench_style.json]

For each image size it times ``transfer_style`` on ``batch`` images at once and on the same
images one by one, interleaved over ``--repeats`` rounds (timings on a shared machine are noisy;
the ratio inside one run is what counts), and prints a table and writes JSON. VGG19 has random
weights (speed does not depend on them). Not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from singanseg_lib.kit.env import environment_info, resolve_device
from singanseg_lib.kit.files import atomic_write_json
from singanseg_lib.kit.weights import random_weights
from singanseg_lib.style.transfer import load_vgg19, transfer_style


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(size: int, batch: int, steps: int, repeats: int, vgg, device) -> dict:
    g = torch.Generator().manual_seed(size)
    content = torch.rand(batch, 3, size, size, generator=g).to(device)
    style = torch.rand(batch, 3, size, size, generator=g).to(device)
    transfer_style(content[:1], style[:1], vgg, steps=1)  # warm-up (allocator, kernels)
    batched, single = [], []
    for _ in range(repeats):
        batched.append(_time(lambda: transfer_style(content, style, vgg, steps=steps)))
        single.append(sum(_time(lambda i=i: transfer_style(content[i:i + 1], style[i:i + 1], vgg, steps=steps))
                          for i in range(batch)))
    def per(seconds):
        return 1000 * min(seconds) / (steps * batch)  # best round: least disturbed by other load
    return {"size": size, "batch": batch, "steps": steps, "ms_per_step_per_image_batched": per(batched),
            "ms_per_step_per_image_one_by_one": per(single), "speedup": min(single) / min(batched)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="bench_style.json")
    args = ap.parse_args()
    device = resolve_device(args.device)
    vgg = load_vgg19(weights=random_weights("vgg19"), device=device)
    rows = [bench(s, args.batch, args.steps, args.repeats, vgg, device) for s in args.sizes]
    print(f"{'size':>5} {'batch':>5} {'ms/step/img batched':>20} {'one by one':>11} {'speedup':>8}")
    for r in rows:
        print(f"{r['size']:>5} {r['batch']:>5} {r['ms_per_step_per_image_batched']:>20.1f} "
              f"{r['ms_per_step_per_image_one_by_one']:>11.1f} {r['speedup']:>8.2f}")
    paper_s = 20  # s per image, 1,000 steps, RTX 3080, native size (~250 px)
    print(f"(paper: {paper_s} s per image for 1,000 steps on an RTX 3080, i.e. {paper_s:.0f} ms/step/image)")
    atomic_write_json(Path(args.out), {"results": rows, "environment": environment_info(device)})
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()

"""UNet++ training speed on this machine: channels-last vs NCHW, per preset encoder (not a timed test).

    .venv/bin/python benchmarks/bench_segment.py [--presets smoke classroom paper] [--reps 5] [--out bench.json]

For each preset's UNet++ (encoder, decoder, image size), one training step (forward, Dice loss,
backward, Adam) on a batch of random images is timed in both memory layouts, interleaved (A, B,
A, B, ...) so that load from other processes hits both alike; the median per layout and their
ratio are printed and saved as JSON. ``SegmentConfig.channels_last`` defaults to the faster one.
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
import torch


def step_time(model, opt, x, y, loss_fn) -> float:
    start = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    opt.step()
    return time.perf_counter() - start


def bench(preset: str, reps: int, batch: int) -> dict:
    import segmentation_models_pytorch as smp

    from singanseg_lib.kit import presets
    from singanseg_lib.segmentation import unetpp as segment

    config = presets.config_from_preset(segment.SegmentConfig, preset, prefix="seg_", encoder_weights="none")
    images = np.random.default_rng(0).integers(0, 256, (batch, config.image_size, config.image_size, 3), np.uint8)
    y = torch.rand(batch, 1, config.image_size, config.image_size).gt(0.8).float()
    loss_fn = smp.losses.DiceLoss("binary", from_logits=True)
    setups = {}
    for layout in (False, True):
        cfg = dataclasses.replace(config, channels_last=layout)
        torch.manual_seed(0)
        model, _ = segment.build_model(cfg)
        model = model.to(memory_format=torch.channels_last if layout else torch.contiguous_format).train()
        setups[layout] = (model, torch.optim.Adam(model.parameters(), 1e-4), segment._to_input(images, cfg, "cpu"))
    times = {False: [], True: []}
    for rep in range(reps + 1):
        for layout, (model, opt, x) in setups.items():
            t = step_time(model, opt, x, y, loss_fn)
            if rep:  # the first step of each layout builds oneDNN primitives
                times[layout].append(t)
    nchw, nhwc = statistics.median(times[False]), statistics.median(times[True])
    return {"preset": preset, "encoder": config.encoder, "image_size": config.image_size, "batch": batch,
            "threads": torch.get_num_threads(), "nchw_s_per_image": nchw / batch,
            "channels_last_s_per_image": nhwc / batch, "nchw_over_channels_last": nchw / nhwc}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["smoke", "classroom", "paper"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    rows = [bench(p, args.reps, args.batch) for p in args.presets]
    print(f"{'preset':10} {'encoder':28} {'px':>4} {'NCHW s/img':>11} {'NHWC s/img':>11} {'NCHW/NHWC':>10}")
    for r in rows:
        print(f"{r['preset']:10} {r['encoder']:28} {r['image_size']:4d} {r['nchw_s_per_image']:11.4f} "
              f"{r['channels_last_s_per_image']:11.4f} {r['nchw_over_channels_last']:10.2f}")
    if args.out:
        from singanseg_lib.kit.files import atomic_write_json

        atomic_write_json(args.out, {"rows": rows})


if __name__ == "__main__":
    main()

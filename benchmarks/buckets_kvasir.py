"""How many scale-plan buckets Kvasir-SEG's 1,000 images make, with and without ``snap_aspect``.

Fused training (``singanseg train --fuse M``) trains up to M models of one scale plan as one
network, so the number and sizes of the buckets decide how many fused networks 1,000 models
need. ``--snap-aspect PCT`` moves an image into a larger bucket when that changes its finest
scale by at most PCT % per side (:func:`singanseg_lib.singan.many.snap_aspect`). Only image
headers are read: a few seconds.

    python benchmarks/buckets_kvasir.py [--data ../shared/data/kvasir-seg]
    # writes benchmarks/results/buckets_kvasir.json
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from singanseg_lib.data import load_dataset  # noqa: E402
from singanseg_lib.singan.config import TrainConfig  # noqa: E402
from singanseg_lib.singan.many import TrainJob, finest_change_pct, image_size, plan_buckets, snap_aspect  # noqa: E402


def bucket_report(jobs: list[TrainJob], cfg: TrainConfig, pcts: list[float], fuses: list[int]) -> list[dict]:
    rows = []
    for pct in pcts:
        snapped = snap_aspect(jobs, cfg, pct)
        sizes = [len(b) for b in plan_buckets(snapped, cfg)]
        changes = [finest_change_pct(cfg, image_size(j.image_path), j.resize_to) for j in snapped if j.resize_to]
        rows.append({"snap_aspect_pct": pct, "buckets": len(sizes), "largest": sizes[:6],
                     "largest_four_hold": sum(sizes[:4]), "singletons": sum(s == 1 for s in sizes),
                     "images_resized": len(changes), "max_finest_change_pct": round(max(changes, default=0.0), 2),
                     "fused_networks": {f"M{m}": sum(math.ceil(s / m) for s in sizes) for m in fuses}})
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "kvasir-seg")
    ap.add_argument("--pct", type=float, nargs="+", default=[0, 1, 2, 5, 10])
    ap.add_argument("--max-size", type=int, nargs="+", default=[250, 48], help="paper: 250; classroom: 48")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "buckets_kvasir.json")
    args = ap.parse_args()
    pairs = load_dataset(args.data, progress=False).pairs
    jobs = [TrainJob(p.id, p.image, p.mask) for p in pairs]
    result = {"data": args.data.name, "images": len(jobs), "fuses": [8, 16, 64], "by_max_size": {}}
    for max_size in args.max_size:
        print(f"max_size {max_size}")
        result["by_max_size"][str(max_size)] = bucket_report(jobs, TrainConfig(max_size=max_size), args.pct,
                                                             result["fuses"])
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""How long checking a data set takes: ``data.load_dataset`` against decoding every file in full.

    PYTHONPATH=. .venv/bin/python benchmarks/data_loading.py /path/to/kvasir-seg [--repeats 2]

Both ways run interleaved in one process, so the ratio holds even on a busy machine; absolute
times vary. load_dataset decodes JPEG images at 1/8 scale (every byte still read), verifies PNG
chunk checksums instead of inflating them, and decodes masks in full (to luma only).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from singanseg_lib import data  # noqa: E402


def full_decode(pairs: list[data.DatasetPair]) -> None:
    for p in pairs:
        with Image.open(p.image) as image, Image.open(p.mask) as mask:
            np.asarray(image.convert("RGB"))
            np.asarray(mask.convert("L"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    pairs = list(data.load_dataset(args.folder, progress=False))
    ways = {"load_dataset, 1 thread": lambda: data.load_dataset(args.folder, progress=False, workers=1),
            "load_dataset, default threads": lambda: data.load_dataset(args.folder, progress=False),
            "full RGB + L decode, 1 thread": lambda: full_decode(pairs)}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(args.repeats):
        for name, run in ways.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    base = min(times["full RGB + L decode, 1 thread"])
    for name, values in times.items():
        print(f"{name:32s} best {min(values):6.2f} s for {len(pairs)} pairs ({min(values) / base:.2f} x full decode)")


if __name__ == "__main__":
    main()

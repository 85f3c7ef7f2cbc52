"""Choose and copy the bundled sample ``data/sample/`` from the full Kvasir-SEG, deterministically.

    .venv/bin/python scripts/make_sample.py /path/to/kvasir-seg            # writes data/sample/
    .venv/bin/python scripts/make_sample.py /path/to/kvasir-seg --check    # exit 1 if data/sample differs

The 1,000 pairs are ranked by polyp share (fraction of mask pixels > 127; ties by id). Pair i of
N is taken near the rank at quantile i / (N - 1), so the sample spans the smallest to the largest
polyp with the quantiles in between; the two ends are exactly the smallest and the largest. Within
a window of half a quantile step either side, the pair whose image size is least represented so
far is preferred (then the closest rank, then the id), so that the sample covers many image sizes.
Files are copied byte for byte at their original resolution, with a ``SHA256SUMS`` listing.
"""
from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(KIT))

from singanseg_lib.data.folders import Dataset, DatasetPair, load_dataset  # noqa: E402
from singanseg_lib.kit.files import read_sha256sums, sha256_file  # noqa: E402

SAMPLE_SIZE = 36


def select_sample(dataset: Dataset, n: int = SAMPLE_SIZE) -> list[DatasetPair]:
    """The ``n`` pairs of the sample, in rank order (see the module docstring)."""
    ranked = sorted(dataset, key=lambda p: (p.polyp_share, p.id))
    last = len(ranked) - 1
    half = max(1, int(len(ranked) / (2 * (n - 1))))
    chosen: list[int] = []
    sizes: collections.Counter = collections.Counter()
    for i in range(n):
        target = round(i * last / (n - 1))
        window = [target] if i in (0, n - 1) else range(max(0, target - half), min(last, target + half) + 1)
        free = [r for r in window if r not in chosen]
        best = min(free, key=lambda r: (sizes[ranked[r].size], abs(r - target), ranked[r].id))
        chosen.append(best)
        sizes[ranked[best].size] += 1
    return [ranked[r] for r in sorted(chosen)]


def sums_text(pairs: list[DatasetPair]) -> str:
    """The ``SHA256SUMS`` listing of the copied files, images first, sorted by name."""
    rows = [(f"images/{p.image.name}", p.image) for p in pairs] + [(f"masks/{p.mask.name}", p.mask) for p in pairs]
    return "".join(f"{sha256_file(src)}  {name}\n" for name, src in sorted(rows))


def write_sample(pairs: list[DatasetPair], dest: Path) -> None:
    """Copy the pairs into ``dest`` (made in a temporary sibling, renamed into place when complete)."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        for sub, attr in (("images", "image"), ("masks", "mask")):
            (tmp / sub).mkdir()
            for p in pairs:
                shutil.copyfile(getattr(p, attr), tmp / sub / getattr(p, attr).name)
        (tmp / "SHA256SUMS").write_text(sums_text(pairs))
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_sample(pairs: list[DatasetPair], dest: Path) -> list[str]:
    """Differences between the selection and ``dest`` (empty when they agree byte for byte)."""
    want = {name: digest for digest, name in
            (line.split("  ") for line in sums_text(pairs).splitlines())}
    have = read_sha256sums(dest / "SHA256SUMS")
    problems = [f"{name}: listed differently in {dest}/SHA256SUMS" for name in sorted(set(want) ^ set(have))]
    problems += [f"{name}: sha256 differs" for name in sorted(set(want) & set(have)) if want[name] != have[name]]
    on_disk = {f"{sub}/{p.name}" for sub in ("images", "masks") for p in (dest / sub).iterdir()}
    problems += [f"{name}: on disk but not selected" for name in sorted(on_disk - set(want))]
    problems += [f"{name}: file differs from SHA256SUMS" for name in sorted(on_disk & set(have))
                 if sha256_file(dest / name) != have[name]]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the full Kvasir-SEG folder (images/ + masks/)")
    parser.add_argument("--dest", default=str(KIT / "data" / "sample"), help="default: data/sample")
    parser.add_argument("-n", type=int, default=SAMPLE_SIZE, help=f"pairs (default {SAMPLE_SIZE})")
    parser.add_argument("--check", action="store_true", help="only compare the selection with --dest")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.source)
    pairs = select_sample(dataset, args.n)
    dest = Path(args.dest)
    if args.check:
        problems = check_sample(pairs, dest)
        print("\n".join(problems) or f"{dest} matches the selection ({len(pairs)} pairs)")
        return 1 if problems else 0
    write_sample(pairs, dest)
    total = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
    shares = [p.polyp_share for p in pairs]
    print(f"wrote {len(pairs)} pairs to {dest} ({total / 1e6:.1f} MB, {len({p.size for p in pairs})} image sizes, "
          f"polyp share {min(shares):.2%}-{max(shares):.2%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

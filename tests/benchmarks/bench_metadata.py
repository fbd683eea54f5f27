"""Alt-text write benchmark (issue 14): ``write_alt_text`` into 1,000 12 MP JPEGs, side by side
with ``exiftool -overwrite_original -XMP-iptcCore:AltTextAccessibility=...`` over the same files.
Not collected by pytest (``bench_*.py``).

    python tests/benchmarks/bench_metadata.py                 # 1,000 photos
    python tests/benchmarks/bench_metadata.py --count 100 --full-sample 20

The photos are made once into a cache folder outside the checkout (``--cache``; one 4000x3000
JPEG with EXIF, photo-like, copied with a different EXIF Artist in each copy). Each contender gets
fresh copies (not timed). I/O is counted from ``/proc/<pid>/io``: ``rchar``/``wchar`` (bytes
through read/write calls, cached or not) and ``read_bytes``/``write_bytes`` (what reached the
storage); for exiftool, the counts of a shell that ran it and reaped it (Linux adds a reaped
child's counts to its parent's). ``--full-sample N`` also times N photos with the full-size
pixel check (what ``pixels.check_same_pixels`` did for JPEG before the 1/8-scale rule).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

TEXT = "A sunlit meadow under a pale blue sky, seen from a low hill"
ARTIST = b"copy 000000"
FIELDS = ("rchar", "wchar", "read_bytes", "write_bytes")


def proc_io(pid: str = "self") -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {k: int(v) for k, v in (line.split(": ") for line in lines)}


def master_jpeg() -> bytes:
    rng = np.random.default_rng(14)
    yy, xx = np.mgrid[0:3000, 0:4000]
    rgb = np.stack([(xx / 16) % 256, (yy / 12) % 256, ((xx + yy) / 20) % 256], -1)
    rgb = rgb.astype(np.float32) + rng.normal(0, 12, rgb.shape).astype(np.float32)
    exif = Image.Exif()
    exif[0x010F] = "NanoCaption"  # Make
    exif[0x0110] = "Benchmark 12MP"  # Model
    exif[0x013B] = ARTIST.decode()  # Artist: varied per copy
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def make_cache(cache: Path, count: int) -> list[Path]:
    masters = cache / "masters"
    masters.mkdir(parents=True, exist_ok=True)
    paths = [masters / f"photo{i:05d}.jpg" for i in range(count)]
    missing = [p for p in paths if not p.exists()]
    if missing:
        data = master_jpeg()
        assert data.count(ARTIST) == 1
        for p in missing:
            i = int(p.stem[5:])
            p.write_bytes(data.replace(ARTIST, f"copy {i:06d}".encode()))
    return paths


def fresh_copies(masters: list[Path], work: Path) -> list[Path]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return [Path(shutil.copyfile(m, work / m.name)) for m in masters]


def run_ours(photos: list[Path], *, reduced: bool = True) -> tuple[float, dict[str, int]]:
    from nanocaption_desktop.metadata import pixels, write_alt_text

    real = pixels.check_same_pixels
    if not reduced:  # the full-size check, for the comparison

        def full(old: bytes, new: bytes, name: str, *, reduced: bool = False) -> None:
            real(old, new, name, reduced=False)

        pixels.check_same_pixels = full  # type: ignore[assignment]
    try:
        before, t0 = proc_io(), time.perf_counter()
        for p in photos:
            result = write_alt_text(p, TEXT)
            assert result.where == "file", result
        took, after = time.perf_counter() - t0, proc_io()
    finally:
        pixels.check_same_pixels = real  # type: ignore[assignment]
    return took, {k: after[k] - before[k] for k in FIELDS}


def run_exiftool(photos: list[Path]) -> tuple[float, dict[str, int]]:
    args = photos[0].parent / "args.txt"
    args.write_text("\n".join(str(p) for p in photos) + "\n", encoding="utf-8")
    script = (
        "before=$(cat /proc/$$/io); exiftool -q -overwrite_original "
        f'"-XMP-iptcCore:AltTextAccessibility={TEXT}" -@ "$1" >&2; echo "$before"; echo ---; '
        "cat /proc/$$/io"
    )
    t0 = time.perf_counter()
    done = subprocess.run(["sh", "-c", script, "sh", str(args)], capture_output=True, text=True)
    took = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    head, _, tail = done.stdout.partition("---")

    def parse(text: str) -> dict[str, int]:
        pairs = (line.split(": ") for line in text.strip().splitlines())
        return {k: int(v) for k, v in pairs}

    a, b = parse(head), parse(tail)
    return took, {k: b[k] - a[k] for k in FIELDS}


def row(label: str, n: int, took: float, io_: dict[str, int] | None, ref: float) -> str:
    cells = [label, f"{n / took:.2f}", f"{1000 * took / n:.0f}", f"{ref / (n / took):.2f}x"]
    if io_ is not None:
        cells += [f"{io_[k] / n / 1e6:.2f}" for k in FIELDS]
    else:
        cells += ["", "", "", ""]
    return "| " + " | ".join(cells) + " |"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--full-sample", type=int, default=50, metavar="N")
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    ap.add_argument("--cache", type=Path, default=default_cache / "nanocaption-bench" / "meta")
    args = ap.parse_args()
    if shutil.which("exiftool") is None:
        print("exiftool not found (apt-get install libimage-exiftool-perl)", file=sys.stderr)
        return 2
    masters = make_cache(args.cache, args.count)
    size = masters[0].stat().st_size
    work = args.cache / "work"
    ex_took, ex_io = run_exiftool(fresh_copies(masters, work))
    our_took, our_io = run_ours(fresh_copies(masters, work))
    n, ex_rate = len(masters), len(masters) / ex_took
    lines = [
        f"{n} JPEGs of 4000x3000, {size / 1e6:.2f} MB each; one write each",
        "",
        "| writer | photos/s | ms/photo | time / exiftool's | rchar MB | wchar MB "
        "| read_bytes MB | write_bytes MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        row("exiftool (reference)", n, ex_took, ex_io, ex_rate),
        row("NanoCaption write_alt_text", n, our_took, our_io, ex_rate),
    ]
    if args.full_sample:
        sample = fresh_copies(masters[: args.full_sample], work)
        full_took, full_io = run_ours(sample, reduced=False)
        lines.append(row(f"… full-size pixel check ({len(sample)})", len(sample), full_took,
                         full_io, ex_rate))  # fmt: skip
    shutil.rmtree(work, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What is inside a built executable and how big each part is (read from PyInstaller's archive).

    python packaging/size_report.py dist/nanocaption-desktop

Reads the CArchive table of contents appended to the executable and the module table of the
embedded PYZ with PyInstaller's own readers (``pyi-archive_viewer`` uses them too).
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

# (part, pattern on the archive path or module name), first match wins
PARTS = [
    ("model", r"^models/"),
    ("app", r"^(nanocaption_desktop|assets)([/.]|$)"),
    ("Qt (PySide6)", r"^(PySide6|shiboken6)([/.]|$)|^(lib)?(Qt6|pyside6|shiboken6|icu)"),
    ("onnxruntime", r"^onnxruntime([/.]|$)|^(lib)?onnxruntime"),
    ("numpy", r"^numpy([/.]|$)|^numpy\.libs/|^(lib)?(scipy_)?openblas|^libgfortran|^libquadmath"),
    (
        "Pillow",
        r"^(PIL|pillow\.libs)([/.]|$)|^(lib)?(jpeg|openjp2|tiff|webp|sharpyuv|avif|lcms2|"
        r"freetype|png16|harfbuzz|brotli|xcb-|Xau|lzma|zstd)",
    ),
    ("tokenizers", r"^tokenizers([/.]|$)"),
    (
        "Python",
        r"^(lib)?python3|^python3|^base_library\.zip|^lib-dynload/|^PYZ\.pyz$|"
        r"^struct$|^pyi|^pyimod|^_pyi",
    ),
]
_COMPILED = [(name, re.compile(p)) for name, p in PARTS]

Entry = tuple[str, int, int, str]  # name, bytes stored in the exe, bytes once unpacked, type


def part_of(name: str) -> str:
    name = name.replace("\\", "/")
    for part, pattern in _COMPILED:
        if pattern.search(name):
            return part
    if "/" not in name and not name.endswith((".so", ".dll", ".dylib")) and "." not in name[:1]:
        # a module in the PYZ: the standard library unless a package above claimed it
        return "Python"
    return "other libraries"


def archive_listing(exe: str | Path) -> list[Entry]:
    """Every file in the executable's archive, and every module in its PYZ (type ``pyz``)."""
    from PyInstaller.archive.readers import CArchiveReader

    reader = CArchiveReader(str(exe))
    out: list[Entry] = []
    for name, (_off, stored, unpacked, _flag, typecode) in reader.toc.items():
        if typecode == "z":  # the PYZ: list its modules instead of the blob
            pyz = reader.open_embedded_archive(name)
            for mod, (_t, _o, length) in pyz.toc.items():
                out.append((mod, length, length, "pyz"))
            continue
        out.append((name, stored, unpacked, typecode))
    return out


def _mb(n: int) -> str:
    return f"{n / 1e6:8.1f}"


def format_report(
    exe: Path, listing: list[Entry], beside: Path | None = None, *, platform_name: str = ""
) -> str:
    size = exe.stat().st_size
    by_part: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, stored, unpacked, _t in listing:
        row = by_part[part_of(name)]
        row[0] += stored
        row[1] += unpacked
        row[2] += 1
    lines = [
        f"== size report: {exe.name} ({platform_name}) ==",
        f"executable: {size / 1e6:.1f} MB ({size} bytes)",
    ]
    if beside is not None and beside.is_dir():
        extra = sum(p.stat().st_size for p in beside.rglob("*") if p.is_file())
        lines.append(f"model beside it: {beside} {extra / 1e6:.1f} MB")
    lines.append(f"{'part':<18}{'in exe MB':>10}{'unpacked MB':>13}{'files':>7}")
    for part, (stored, unpacked, n) in sorted(by_part.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"{part:<18}{_mb(stored):>10}{_mb(unpacked):>13}{n:>7}")
    lines.append("biggest files (MB in exe / unpacked):")
    files = sorted((e for e in listing if e[3] != "pyz"), key=lambda e: -e[1])[:12]
    for name, stored, unpacked, _t in files:
        lines.append(f"  {_mb(stored)} {_mb(unpacked)}  {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    exe = Path(sys.argv[1])
    print(format_report(exe, archive_listing(exe)))

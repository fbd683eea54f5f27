"""Makers of hostile and unusual image files for the reliability tests (no files are committed).

Everything is built in memory with Pillow or by hand (PNG chunks), so the tests show exactly what
they feed the decoder.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from PIL import Image


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(
    width: int, height: int, *, color_type: int = 2, idat: bytes | None = None
) -> bytes:
    """A tiny, well-formed PNG whose IHDR declares ``width×height`` (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    body = idat if idat is not None else zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def big_gray_png(width: int, height: int) -> bytes:
    """A genuinely decodable all-black grayscale PNG (needs ``width*height`` bytes to decode)."""
    rows = zlib.compress(b"\0" * ((width + 1) * height), 9)
    return png_declaring(width, height, color_type=0, idat=rows)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def pattern(width: int = 48, height: int = 32) -> Image.Image:
    """A colourful RGB test pattern with no symmetry."""
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x * y) % 256], -1)
    return Image.fromarray(arr.astype(np.uint8))


def eps_file() -> bytes:
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\n"
        b"newpath 0 0 moveto 10 10 lineto stroke\nshowpage\n%%EOF\n"
    )


def pdf_file() -> bytes:
    return b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (16, 12), (0, 255, 255, 0)), "JPEG", quality=95)


def png16() -> bytes:
    ramp = (np.arange(64, dtype=np.uint32)[None, :].repeat(8, 0) * 1040).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def palette_png_with_transparency() -> bytes:
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 255, 0, 255, 0] + [0] * (256 * 3 - 6))
    img.paste(1, (0, 0, 4, 8))  # left half: palette index 1 (green), made transparent below
    return encode(img, "PNG", transparency=1)


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def with_orientation(img: Image.Image, orientation: int, fmt: str = "PNG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(img, fmt, exif=exif)


def upright(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for pixels ``stored`` with EXIF ``orientation`` (from the EXIF spec)."""
    return {
        1: lambda a: a,
        2: np.fliplr,
        3: lambda a: np.rot90(a, 2),
        4: np.flipud,
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),  # rotate 90° clockwise
        7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),  # rotate 90° counter-clockwise
    }[orientation](stored)


def seeds() -> dict[str, bytes]:
    """Small valid files in every allowed format and many modes: the fuzzer mutates these."""
    base = pattern(24, 16)
    out = {
        "rgb.png": encode(base, "PNG"),
        "rgb.jpg": encode(base, "JPEG", quality=80),
        "progressive.jpg": encode(base, "JPEG", progressive=True),
        "rgb.webp": encode(base, "WEBP", quality=70),
        "rgb.bmp": encode(base, "BMP"),
        "rgb.tiff": encode(base, "TIFF", compression="tiff_deflate"),
        "rgba.png": encode(base.convert("RGBA"), "PNG"),
        "gray.png": encode(base.convert("L"), "PNG"),
        "palette.gif": encode(base.convert("P"), "GIF"),
        "animated.gif": animated_gif(),
        "cmyk.jpg": cmyk_jpeg(),
        "16bit.png": png16(),
        "ptrans.png": palette_png_with_transparency(),
        "exif6.jpg": with_orientation(base, 6, "JPEG"),
    }
    return out


@dataclass
class Tally:
    """Figures for the test output: files tried, errors by reason, crashes and hangs."""

    title: str
    tried: int = 0
    decoded: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    crashes: int = 0  # an exception other than ImageError, or a decoder process that died
    hangs: int = 0  # a decode stopped by the time limit
    other: Counter[str] = field(default_factory=Counter)

    def error(self, reason: str) -> None:
        short = reason.split(" (", 1)[0]
        self.reasons[short] += 1
        if "crashed" in reason:
            self.crashes += 1
        if "took longer" in reason:
            self.hangs += 1

    def table(self) -> str:
        lines = [
            f"\n== {self.title} ==",
            f"  files tried      {self.tried}",
            f"  decoded          {self.decoded}",
            f"  errors           {sum(self.reasons.values())}",
        ]
        lines += [f"    {n:6d}  {r}" for r, n in self.reasons.most_common()]
        lines += [f"  crashes          {self.crashes}", f"  hangs            {self.hangs}"]
        lines += [f"  {k:16s} {v}" for k, v in self.other.items()]
        return "\n".join(lines)

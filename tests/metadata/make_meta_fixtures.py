"""Make the metadata test photos: ``python tests/metadata/make_meta_fixtures.py DEST``.

Nothing is committed: the tests call ``make_all`` into a temporary folder once per session.
Pillow draws the pixels; the EXIF blocks with MakerNotes are built here byte by byte (a Canon
MakerNote is a bare IFD whose offsets count from the TIFF header; Sony's has a ``SONY DSC``
prefix and the same offsets; Nikon's type 3 carries its own TIFF header), so that ExifTool decodes
each make's MakerNote tags and the tests see whether any offset moved. ExifTool (when installed)
adds what is easiest to make with it: IPTC with its Photoshop digest, and ExtendedXMP.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageCms

SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}
NON_ASCII_DIR = "Fotos Zürich 東京"
PACKET = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:description><rdf:Alt>'
    '<rdf:li xml:lang="x-default">{}</rdf:li></rdf:Alt></dc:description></rdf:Description>'
    '</rdf:RDF></x:xmpmeta>\n{}<?xpacket end="w"?>'
)

Entry = tuple[int, int, bytes]  # tag, type, value bytes


def packet(text: str, padding: int = 0, extended: str | None = None) -> bytes:
    """A minimal packet with dc:description; ``extended`` names an ExtendedXMP GUID."""
    data = PACKET.format(text, " " * padding)
    if extended is not None:
        note = f' xmlns:xmpNote="http://ns.adobe.com/xmp/note/" xmpNote:HasExtendedXMP="{extended}"'
        data = data.replace('rdf:about=""', 'rdf:about=""' + note)
    return data.encode("utf-8")


def ifd(entries: list[Entry], at: int, e: str) -> bytes:
    """An IFD placed at offset ``at``, its long values right after it."""
    data_at = at + 2 + 12 * len(entries) + 4
    head, extra = struct.pack(e + "H", len(entries)), b""
    for tag, typ, value in sorted(entries):
        if len(value) <= 4:
            field = value.ljust(4, b"\0")
        else:
            field = struct.pack(e + "I", data_at + len(extra))
            extra += value + b"\0" * (len(value) % 2)
        head += struct.pack(e + "HHI", tag, typ, len(value) // SIZES[typ]) + field
    return head + struct.pack(e + "I", 0) + extra


def ascii_(text: str) -> bytes:
    return text.encode("ascii") + b"\0"


def canon_note(at: int, e: str) -> bytes:
    entries = [
        (0x0006, 2, ascii_("Canon EOS 5D Mark IV")),
        (0x0007, 2, ascii_("Firmware Version 1.0.4")),
        (0x0010, 4, struct.pack(e + "I", 0x80000349)),
    ]
    return ifd(entries, at, e)


def sony_note(at: int, e: str) -> bytes:
    prefix = b"SONY DSC \0\0\0"
    entries = [(0xB020, 2, ascii_("Standard Style")), (0x0102, 4, struct.pack(e + "I", 2))]
    return prefix + ifd(entries, at + len(prefix), e)


def nikon_note(at: int, e: str) -> bytes:
    entries = [
        (0x0001, 7, b"0210"),
        (0x0002, 3, struct.pack(">HH", 0, 400)),
        (0x0004, 2, ascii_("FINE      ")),
        (0x0080, 2, ascii_("IMAGE ADJUSTMENT")),
    ]
    return b"Nikon\0\x02\x10\0\0" + b"MM\0*\0\0\0\x08" + ifd(entries, 8, ">")


MAKES: dict[str, tuple[str, str, Callable[[int, str], bytes]]] = {
    "canon": ("Canon", "Canon EOS 5D Mark IV", canon_note),
    "nikon": ("NIKON CORPORATION", "NIKON D850", nikon_note),
    "sony": ("SONY", "ILCE-7M3", sony_note),
}


def exif_block(make: str, e: str = "<", description: str | None = None) -> bytes:
    """A TIFF block: IFD0 (Make, Model, ...), an EXIF IFD whose MakerNote is the make's own."""
    maker, model, note = MAKES[make]
    mark = b"II*\0" if e == "<" else b"MM\0*"
    ifd0 = [(0x010F, 2, ascii_(maker)), (0x0110, 2, ascii_(model)), (0x0112, 3, b"\0\0")]
    ifd0[2] = (0x0112, 3, struct.pack(e + "H", 1))
    if description is not None:
        ifd0.append((0x010E, 2, ascii_(description)))
    size0 = len(ifd([*ifd0, (0x8769, 4, b"\0" * 4)], 8, e))
    exif_at = 8 + size0
    ifd0.append((0x8769, 4, struct.pack(e + "I", exif_at)))
    date = (0x9003, 2, ascii_("2024:05:01 12:00:00"))
    placeholder = note(0, e)
    probe = ifd([date, (0x927C, 7, b"\xaa" * len(placeholder))], exif_at, e)
    note_at = exif_at + probe.index(b"\xaa" * len(placeholder))
    exif = ifd([date, (0x927C, 7, note(note_at, e))], exif_at, e)
    return mark + struct.pack(e + "I", 8) + ifd(ifd0, 8, e) + exif


def segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def jpeg(*segments: bytes, progressive: bool = False, trailing: bytes = b"") -> bytes:
    """A JPEG (JFIF APP0 first) with ``segments`` after APP0 and ``trailing`` after EOI."""
    buf = io.BytesIO()
    picture().save(buf, "JPEG", quality=85, progressive=progressive)
    data = buf.getvalue()
    (app0_len,) = struct.unpack_from(">H", data, 4)
    at = 4 + app0_len
    return data[:at] + b"".join(segments) + data[at:] + trailing


def picture(mode: str = "RGB") -> Image.Image:
    img = Image.radial_gradient("L").resize((96, 64))
    bands = {"RGB": (img, img.rotate(90), Image.linear_gradient("L").resize((96, 64)))}
    if mode == "RGBA":
        return Image.merge("RGBA", (*bands["RGB"], Image.linear_gradient("L").resize((96, 64))))
    return Image.merge("RGB", bands["RGB"])


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_xmp_after_idat() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x010E] = "OLYMPUS DIGITAL CAMERA"
    buf = io.BytesIO()
    picture().save(buf, "PNG", exif=exif.tobytes())
    data = buf.getvalue()
    iend = data.rindex(b"IEND") - 4
    xmp = png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0" + packet("after IDAT"))
    text = png_chunk(b"tEXt", b"Description\0a text chunk description")
    return data[:iend] + xmp + text + data[iend:]


def webp(kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "lossy":
        picture().save(buf, "WEBP", quality=80)
    elif kind == "lossless":
        picture().save(buf, "WEBP", lossless=True)
    elif kind == "alpha":
        picture("RGBA").save(buf, "WEBP", lossless=True)
    else:  # extended: ALPH + VP8 + ICC profile + EXIF
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        exif = Image.Exif()
        exif[0x010F] = "SONY"
        exif[0x010E] = "old webp description"
        picture("RGBA").save(buf, "WEBP", quality=80, icc_profile=icc, exif=exif.tobytes())
    return buf.getvalue()


def tiff_mm() -> bytes:
    """A big-endian grayscale TIFF, one uncompressed strip, built by hand."""
    img = picture().convert("L")
    w, h = img.size
    pixels = img.tobytes()
    entries = [
        (256, 3, struct.pack(">H", w)),
        (257, 3, struct.pack(">H", h)),
        (258, 3, struct.pack(">H", 8)),
        (259, 3, struct.pack(">H", 1)),
        (262, 3, struct.pack(">H", 1)),
        (273, 4, struct.pack(">I", 8)),
        (278, 3, struct.pack(">H", h)),
        (279, 4, struct.pack(">I", len(pixels))),
        (270, 2, ascii_("big-endian description")),
    ]
    return (
        b"MM\0*" + struct.pack(">I", 8 + len(pixels)) + pixels + ifd(entries, 8 + len(pixels), ">")
    )


def bigtiff() -> bytes:
    return b"II+\0\x08\0\0\0" + struct.pack("<Q", 16) + b"\0" * 16


def _exiftool(path: Path, *args: str) -> None:
    subprocess.run(
        ["exiftool", "-q", "-q", "-overwrite_original", *args, str(path)],
        check=True,
        capture_output=True,
    )


def make_all(dest: Path) -> dict[str, Path]:
    """Write every fixture into ``dest`` (some in a non-ASCII folder); name -> path."""
    folder = dest / NON_ASCII_DIR
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    for make in MAKES:
        files[f"{make}.jpg"] = jpeg(segment(0xE1, b"Exif\0\0" + exif_block(make)))
    files["nikon_mm.jpg"] = jpeg(segment(0xE1, b"Exif\0\0" + exif_block("nikon", ">", "OLD")))
    files["progressive_trailing.jpg"] = jpeg(
        segment(0xFE, b"a comment"), progressive=True, trailing=b"\0\0trailer after EOI"
    )
    files["utf16_xmp.jpg"] = jpeg(
        segment(
            0xE1,
            b"http://ns.adobe.com/xap/1.0/\0" + packet("UTF-16 café").decode().encode("utf-16-le"),
        )
    )
    files["big_xmp.jpg"] = jpeg(
        segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0" + packet("big", 61_000))
    )
    files["xmp_after_idat.png"] = png_with_xmp_after_idat()
    for kind in ("lossy", "lossless", "alpha", "extended"):
        files[f"{kind}.webp"] = webp(kind)
    buf = io.BytesIO()
    picture().save(buf, "TIFF", compression="tiff_deflate", description="little-endian")
    files["ii.tif"] = buf.getvalue()
    files["mm.tif"] = tiff_mm()
    files["big.tif"] = bigtiff()
    paths = {}
    for name, data in files.items():
        paths[name] = folder / f"Ünïcode {name}" if name.startswith("canon") else folder / name
        paths[name].write_bytes(data)
    if shutil.which("exiftool"):
        _exiftool(paths["canon.jpg"], "-IPTC:Caption-Abstract=old caption", "-IPTC:Keywords=k1")
        _exiftool(paths["canon.jpg"], "-IPTCDigest=new", "-XMP-dc:Subject=kept")
        _exiftool(paths["sony.jpg"], "-charset", "iptc=Latin", "-IPTC:City=Zürich")
        long = "w" * 100_000
        _exiftool(paths["sony.jpg"], f"-XMP-dc:Rights={long}")  # ExifTool moves it to ExtendedXMP
        _exiftool(paths["ii.tif"], "-IPTC:Caption-Abstract=tiff caption", "-IPTC:Keywords=t")
        _exiftool(paths["ii.tif"], "-IPTCDigest=new")  # a Photoshop tag 34377 with the digest
    return paths


if __name__ == "__main__":
    for name, path in make_all(Path(sys.argv[1])).items():
        print(f"{name}: {path}")

"""What a photo already says about itself: every description field found, where, and which wins.

Fields read: XMP ``Iptc4xmpCore:AltTextAccessibility`` / ``ExtDescrAccessibility`` (also under
the mistaken ``Iptc4xmpExt:`` namespace) and ``dc:description``, in the file and in its sidecar
(``sidecar.py``); EXIF ``ImageDescription``; IPTC IIM 2:120 Caption-Abstract (UTF-8 when 1:90
says so, else Latin-1); PNG ``Description`` text chunks.

Which one wins (what a person would call "the photo's description"), first found in this order:

1. alt text (``AltTextAccessibility``), the XMP that is authoritative first: the sidecar for a
   format the app cannot write into (HEIC, RAW, GIF...), the file's own packet otherwise;
2. then the MWG order ExifTool's ``Description`` uses: EXIF ``ImageDescription`` (camera
   placeholders such as "OLYMPUS DIGITAL CAMERA" are shown but never win), ``dc:description``,
   IIM Caption-Abstract;
3. then ``ExtDescrAccessibility``, then PNG ``Description``.

A field is ``ours`` when it holds the text NanoCaption wrote last: its SHA-256, or that of the
full text it was cut from, is the one kept in ``nanocaption:DescriptionSHA256`` beside it.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..ground.errors import MetadataError
from . import containers, sidecar, xmp
from .containers import Embedded

#: EXIF ImageDescription values cameras write by themselves (digiKam ignores the same kind).
CAMERA_PLACEHOLDERS = frozenset(
    s.casefold()
    for s in (
        "OLYMPUS DIGITAL CAMERA",
        "SONY DSC",
        "DIGITAL CAMERA",
        "MINOLTA DIGITAL CAMERA",
        "KONICA MINOLTA DIGITAL CAMERA",
        "SAMSUNG DIGITAL CAMERA",
        "DCIM",
        "Default",
        "<Untitled>",
    )
)
#: the source of a field found in a JPEG's ExtendedXMP
EXTENDED = "file:extended-xmp"
_WIN_ORDER = ("alt_text", "exif_description", "description", "iim_caption", "ext_description")


@dataclass(frozen=True)
class Field:
    """One description found. ``key``: alt_text | ext_description | description |
    exif_description | iim_caption | png_description; ``tag``: its name in the file's own terms;
    ``source``: "file:xmp", "sidecar:<name>", "exif", "iim" or "png"."""

    key: str
    tag: str
    source: str
    text: str
    ours: bool = False
    placeholder: bool = False  # a camera's own ImageDescription, not a description


@dataclass(frozen=True)
class Descriptions:
    """Every description ``path`` holds, and which one wins (``why`` says by which rule)."""

    path: str
    format: str | None  # the container ("jpeg", "png"...), None when only a sidecar can be written
    fields: tuple[Field, ...] = ()
    winner: Field | None = None
    why: str = ""
    sidecar: str | None = None  # the sidecar read, if any
    digest: str | None = None  # our stored SHA-256, from the authoritative XMP
    problems: tuple[str, ...] = field(default=())

    @property
    def has_alt_text(self) -> bool:
        """Alt text is already there (``--skip-described`` skips such a photo)."""
        return any(f.key == "alt_text" for f in self.fields)

    @property
    def described(self) -> bool:
        """Any description at all (a camera's placeholder aside)."""
        return any(not f.placeholder for f in self.fields)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["has_alt_text"], data["described"] = self.has_alt_text, self.described
        return data


def decode_iim(raw: bytes, utf8: bool) -> str:
    """IIM text: UTF-8 when 1:90 declares it (or it decodes as such), else Latin-1."""
    if utf8:
        return raw.decode("utf-8", errors="replace")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_exif(raw: bytes) -> str:
    """EXIF ASCII (Exif 3.0 allows UTF-8; anything else read as Latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def is_ours(text: str, digest: str | None, fulls: tuple[str, ...] = ()) -> bool:
    """``text`` is what we wrote: it hashes to ``digest``, or it is a cut of a text that does."""
    if not digest or not text.strip():
        return False
    if xmp.text_sha256(text) == digest:
        return True
    return any(xmp.text_sha256(f) == digest and f.startswith(text) for f in fulls)


def _xmp_fields(read: xmp.XmpRead, source: str) -> list[Field]:
    fulls = tuple(t for k, _tag, t in read.fields if k in ("ext_description", "description"))
    return [
        Field(key, tag, source, text, is_ours(text, read.digest, fulls))
        for key, tag, text in read.fields
    ]


def _embedded_fields(emb: Embedded, digest: str | None, fulls: tuple[str, ...]) -> list[Field]:
    found = []
    if emb.exif_description is not None:
        text = decode_exif(emb.exif_description).strip("\x00")
        if text.strip():
            placeholder = text.strip().casefold() in CAMERA_PLACEHOLDERS
            ours = is_ours(text, digest, fulls)
            found.append(Field("exif_description", "EXIF:ImageDescription", "exif", text, ours,
                               placeholder))  # fmt: skip
    if emb.iim_caption is not None:
        text = decode_iim(emb.iim_caption, emb.iim_utf8)
        if text.strip():
            ours = is_ours(text, digest, fulls)
            found.append(Field("iim_caption", "IPTC:Caption-Abstract", "iim", text, ours))
    for text in emb.png_descriptions:
        if text.strip():
            found.append(Field("png_description", "PNG:Description", "png", text))
    return found


def pick_winner(fields: tuple[Field, ...]) -> tuple[Field | None, str]:
    """The first field in ``_WIN_ORDER`` (fields already in authority order), and why."""
    for key in (*_WIN_ORDER, "png_description"):
        for f in fields:
            if f.key == key and not f.placeholder:
                return f, f"{f.tag} from {f.source}: alt text first, then the MWG order"
    return None, "no description found"


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise MetadataError(str(path), "no such file") from e
    except IsADirectoryError as e:
        raise MetadataError(str(path), "is a folder, not a photo") from e
    except OSError as e:
        raise MetadataError(str(path), f"cannot be read: {e.strerror or e}") from e


#: Camera RAW files: never written into (their makers' tools expect them untouched); sidecar only.
RAW_SUFFIXES = frozenset(
    ".3fr .arw .cr2 .cr3 .crw .dcr .dng .erf .iiq .k25 .kdc .mef .mos .mrw .nef .nrw .orf .pef"
    " .raf .raw .rw2 .rwl .sr2 .srf .srw .x3f".split()
)


def container_for(photo: Path, data: bytes) -> ModuleType | None:
    """The container module that writes into ``photo``; None when only a sidecar can."""
    if photo.suffix.casefold() in RAW_SUFFIXES:
        return None
    return containers.module_for(data)


def read_descriptions(path: str | os.PathLike[str]) -> Descriptions:
    """Every description ``path`` and its sidecar hold (``MetadataError`` only when the file
    cannot be read at all; a malformed block or packet is listed in ``problems``)."""
    photo = Path(path)
    data = read_file(photo)
    module = container_for(photo, data)
    problems: list[str] = []
    emb = Embedded(format="")
    if module is not None:
        try:
            emb = module.extract(data, str(photo))
        except MetadataError as e:
            problems.append(e.reason)
    return describe(photo, module is not None, emb, problems)


def describe(
    photo: Path, embeddable: bool, emb: Embedded, problems: list[str] | None = None
) -> Descriptions:
    """The descriptions of ``photo`` whose own blocks are ``emb``, its sidecar read here."""
    problems = [] if problems is None else problems
    file_read = _read_xmp(emb.xmp, str(photo), "file:xmp", problems)
    # a JPEG's ExtendedXMP: ExifTool shows its properties over the main packet's, and we never
    # write it, so what it holds is someone else's text and comes first
    ext_read = _read_xmp(emb.extended_xmp, str(photo), EXTENDED, problems)
    side = sidecar.existing_sidecar(photo)
    side_read = None
    if side is not None:
        raw = _read_sidecar(side, problems)
        side_read = _read_xmp(raw, str(side), f"sidecar:{side.name}", problems)
    order = (ext_read, file_read, side_read) if embeddable else (side_read, ext_read, file_read)
    digest = next((r[0].digest for r in order if r and r[0].digest), None)
    xmp_fields = [f for r in order if r for f in r[1]]
    fulls = tuple(f.text for f in xmp_fields if f.key in ("ext_description", "description"))
    fields = (*xmp_fields, *_embedded_fields(emb, digest, fulls))
    winner, why = pick_winner(fields)
    return Descriptions(
        path=str(photo),
        format=emb.format if embeddable else None,
        fields=fields,
        winner=winner,
        why=why,
        sidecar=str(side) if side is not None else None,
        digest=digest,
        problems=tuple(problems),
    )


def _read_sidecar(side: Path, problems: list[str]) -> bytes | None:
    try:
        return side.read_bytes()
    except OSError as e:
        problems.append(f"{side}: cannot be read: {e.strerror or e}")
        return None


def _read_xmp(
    raw: bytes | None, name: str, source: str, problems: list[str]
) -> tuple[xmp.XmpRead, list[Field]] | None:
    if raw is None:
        return None
    try:
        read = xmp.read_packet(raw, name)
    except MetadataError as e:
        problems.append(str(e))
        return None
    return read, _xmp_fields(read, source)

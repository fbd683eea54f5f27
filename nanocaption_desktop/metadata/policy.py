"""What a write may change, decided before any byte is built: a person's words are kept.

The rule that tells a person's text from ours: NanoCaption keeps the SHA-256 of the full text it
wrote last in ``nanocaption:DescriptionSHA256``; a field is ours when it holds that text or a cut
of it (``descriptions.is_ours``). Everything else that is not empty is a person's (or another
tool's), and is overwritten only with ``overwrite=True``:

- alt text (``AltTextAccessibility``, either namespace) of a person's: the photo is skipped;
- ``dc:description`` of a person's (in the file or the sidecar): kept, the alt text still
  written; empty or ours: set to the full text; in a JPEG's ExtendedXMP (never rewritten, and
  shown by ExifTool over the main packet): kept even with ``overwrite``, and alt text there
  skips the photo;
- ``ExtDescrAccessibility``: the full text when the alt text had to be cut; ours and no longer
  needed: removed; a person's: kept;
- EXIF ``ImageDescription`` / IIM Caption-Abstract: only when the block already holds the field
  (EXIF; IIM: when an IIM block exists) or the caller asks (``exif=True`` / ``iim=True``);
  never with ``False``; a person's is kept; a camera's placeholder is replaced. EXIF takes ASCII
  only unless ``exif_non_ascii`` (most readers show other text as mojibake).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import xmp_merge
from .containers import Embedded
from .descriptions import EXTENDED, Descriptions, Field
from .xmp_merge import Wanted


@dataclass(frozen=True)
class Options:
    overwrite: bool = False
    skip_described: bool = False
    exif: bool | None = None
    iim: bool | None = None
    exif_non_ascii: bool = False


@dataclass(frozen=True)
class Plan:
    """``skipped``: why nothing is written; else the XMP values and the EXIF / IIM text to set
    (``None``: left as it is); ``notes``: what was deliberately left alone, and why."""

    wanted: Wanted
    exif: str | None = None
    iim: str | None = None
    skipped: str | None = None
    notes: tuple[str, ...] = ()


def _a_persons(fields: tuple[Field, ...], key: str) -> Field | None:
    return next((f for f in fields if f.key == key and not f.ours and not f.placeholder), None)


def plan(text: str, descs: Descriptions, emb: Embedded, opts: Options) -> Plan:
    """The plan for writing ``text`` (already cleaned, not empty) into a photo described by
    ``descs`` whose own blocks are ``emb``."""
    alt = xmp_merge.cut_alt_text(text)
    digest = xmp_merge.xmp.text_sha256(text)
    notes: list[str] = []
    fields = descs.fields
    ext: str | None = text if alt != text else None
    if ext is None and any(f.key == "ext_description" for f in fields):
        ext = "" if (opts.overwrite or not _a_persons(fields, "ext_description")) else None
    if ext and not opts.overwrite and _a_persons(fields, "ext_description"):
        ext = None
        notes.append("ExtDescrAccessibility kept: written by a person")
    description: str | None = text
    if _extended(fields, "description"):  # readers would still show that one: leave ours out
        description = None
        notes.append("dc:description kept: it is in the ExtendedXMP, which is never rewritten")
    elif not opts.overwrite and _a_persons(fields, "description"):
        description = None
        notes.append("dc:description kept: written by a person (overwrite to replace)")
    wanted = Wanted(alt, ext, description, digest)
    if opts.skip_described and descs.has_alt_text:
        return Plan(wanted, skipped="it already has alt text")
    if _extended(fields, "alt_text"):
        return Plan(wanted, skipped="its alt text is in the ExtendedXMP, which is never rewritten")
    person = _a_persons(fields, "alt_text")
    if person is not None and not opts.overwrite:
        return Plan(wanted, skipped=f"it has alt text written by a person ({person.source})")
    exif = _exif(text, descs, emb, opts, notes)
    iim = _iim(text, descs, emb, opts, notes)
    return Plan(wanted, exif=exif, iim=iim, notes=tuple(notes))


def _extended(fields: tuple[Field, ...], key: str) -> bool:
    """A JPEG's ExtendedXMP holds ``key``: ExifTool shows it over the main packet's."""
    return any(f.key == key and f.source == EXTENDED for f in fields)


def _field(fields: tuple[Field, ...], key: str) -> Field | None:
    return next((f for f in fields if f.key == key), None)


def _already(field: Field | None, text: str, descs: Descriptions) -> bool:
    """The field holds ``text``, or the cut of it our last write of this same text left."""
    if field is None:
        return False
    same_write = descs.digest == xmp_merge.xmp.text_sha256(text)
    return field.text == text or (same_write and text.startswith(field.text))


def _kept(field: Field | None, opts: Options) -> bool:
    """A person's text the caller did not ask to overwrite."""
    return field is not None and not field.ours and not field.placeholder and not opts.overwrite


def _exif(
    text: str, descs: Descriptions, emb: Embedded, opts: Options, notes: list[str]
) -> str | None:
    if opts.exif is False or (opts.exif is None and emb.exif_description is None):
        return None
    field = _field(descs.fields, "exif_description")
    if _already(field, text, descs):
        return None
    if _kept(field, opts):
        notes.append("EXIF ImageDescription kept: written by a person (overwrite to replace)")
        return None
    if not text.isascii() and not opts.exif_non_ascii:
        notes.append("EXIF ImageDescription not written: the text is not ASCII")
        return None
    return text


def _iim(
    text: str, descs: Descriptions, emb: Embedded, opts: Options, notes: list[str]
) -> str | None:
    if opts.iim is False or (opts.iim is None and not emb.has_iim):
        return None
    field = _field(descs.fields, "iim_caption")
    if _already(field, text, descs):  # the container cuts a caption to 2,000 bytes
        return None
    if _kept(field, opts):
        notes.append("IIM Caption-Abstract kept: written by a person (overwrite to replace)")
        return None
    return text

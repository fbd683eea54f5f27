"""Write alt text into a photo (or its XMP sidecar) without damaging a single byte of the image.

In the file (JPEG, PNG, WebP, TIFF: whatever ``containers.module_for`` handles):

1. stat, then read the bytes; build the new file in memory with the container;
2. verify in memory: our fields parse back from the new bytes, ``check_lossless`` (the image
   payload is byte-identical) and ``pixels.check_same_pixels`` (it decodes to the same pixels);
3. ``ground.durable.write_atomically``: a temp file in the same folder, fsync'd, the original
   re-stat'ed (size and mtime_ns as read, else abandoned), renamed over it (Windows sharing
   errors retried ~2 s), the folder fsync'd; the mode kept; with ``keep_mtime`` the old times.

A sidecar (``sidecar.py`` names it) for HEIC/AVIF, RAW, GIF, BMP and every format the containers
do not handle, when the packet does not fit (``DoesNotFit``: EXIF / IIM still go into the file),
or when ``sidecar=True``. ``sidecar=False`` refuses instead. What may change is ``policy.py``.

Every refusal is a ``MetadataError`` naming the file; the original is then byte-identical and no
temp file is left.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..ground import durable
from ..ground.errors import MetadataError
from . import descriptions, sidecar, xmp, xmp_merge
from .containers import Change, DoesNotFit, Embedded
from .policy import Options, Plan, plan


@dataclass(frozen=True)
class WriteResult:
    """What a write did. ``where``: "file", "sidecar", "file+sidecar" (EXIF/IIM in the file,
    XMP beside it) or None (skipped or unchanged); ``fields``: the tags written."""

    path: str
    where: str | None = None
    sidecar: str | None = None
    fields: tuple[str, ...] = ()
    skipped: str | None = None
    unchanged: bool = False
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def write_alt_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    overwrite: bool = False,
    skip_described: bool = False,
    exif: bool | None = None,
    iim: bool | None = None,
    exif_non_ascii: bool = False,
    keep_mtime: bool = False,
    sidecar: bool | None = None,
) -> WriteResult:
    """Write ``text`` as the photo's alt text (see the module and ``policy.py``)."""
    name = str(path)
    cleaned = xmp_merge.clean_text(text)
    if not cleaned:
        raise MetadataError(name, "nothing to write: the text is empty")
    photo = Path(os.path.realpath(path))
    st, data = _stat_and_read(photo, name)
    module = descriptions.container_for(photo, data)
    if module is None and sidecar is False:
        raise MetadataError(name, "this format cannot hold metadata inside; a sidecar is needed")
    emb = module.extract(data, name) if module is not None else Embedded(format="")
    descs = descriptions.describe(photo, module is not None, emb)
    opts = Options(overwrite, skip_described, exif, iim, exif_non_ascii)
    the_plan = plan(cleaned, descs, emb, opts)
    if the_plan.skipped:
        return WriteResult(name, skipped=the_plan.skipped, notes=the_plan.notes)
    if module is None or sidecar is True:
        notes = the_plan.notes + _sidecar_notes(the_plan)
        return _to_sidecar(photo, name, the_plan, WriteResult(name, notes=notes))
    _check_writable(photo, name)
    packet, changed = xmp_merge.merge(emb.xmp, the_plan.wanted, name)
    change = Change(
        xmp=packet if changed else None,
        exif_description=the_plan.exif,
        exif_utf8=exif_non_ascii,
        iim_caption=the_plan.iim,
    )
    result = WriteResult(name, notes=the_plan.notes)
    try:
        new = _embed(module, data, change, name) if _changes(change) else None
    except DoesNotFit:
        if sidecar is False:
            raise MetadataError(name, "the XMP packet does not fit into the file") from None
        rest = Change(
            exif_description=the_plan.exif, exif_utf8=exif_non_ascii, iim_caption=the_plan.iim
        )
        result = _to_sidecar(photo, name, the_plan, result)
        new, change = (_embed(module, data, rest, name), rest) if _changes(rest) else (None, rest)
    if new is None:
        return result if result.where else WriteResult(name, unchanged=True, notes=result.notes)
    _verify(module, data, new, change, the_plan, name)
    _replace(photo, name, new, st, keep_mtime)
    where = "file+sidecar" if result.where == "sidecar" else "file"
    return WriteResult(name, where, result.sidecar, _tags(change, the_plan) + result.fields,
                       notes=result.notes)  # fmt: skip


def _changes(change: Change) -> bool:
    return any(v is not None for v in (change.xmp, change.exif_description, change.iim_caption))


def _tags(change: Change, the_plan: Plan) -> tuple[str, ...]:
    tags: list[str] = []
    if change.xmp is not None:
        tags += _xmp_tags(the_plan)
    if change.exif_description is not None:
        tags.append("EXIF:ImageDescription")
    if change.iim_caption is not None:
        tags.append("IPTC:Caption-Abstract")
    return tuple(tags)


def _xmp_tags(the_plan: Plan) -> list[str]:
    wanted = the_plan.wanted
    tags = ["XMP-iptcCore:AltTextAccessibility"]
    if wanted.ext_description:
        tags.append("XMP-iptcCore:ExtDescrAccessibility")
    if wanted.description is not None:
        tags.append("XMP-dc:Description")
    return tags


def _stat_and_read(photo: Path, name: str) -> tuple[os.stat_result, bytes]:
    """The photo's stat (taken first: a change while it is read shows at the final check) and
    bytes; refuses what cannot or must not be replaced."""
    try:
        st = os.stat(photo)
    except FileNotFoundError as e:
        raise MetadataError(name, "no such file") from e
    except OSError as e:
        raise MetadataError(name, f"cannot be read: {e.strerror or e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise MetadataError(name, "not a regular file")
    return st, descriptions.read_file(photo)


def _check_writable(target: Path, name: str) -> None:
    """Refuse a read-only file or folder (as digiKam does) before building anything: the mode
    bits are asked, not ``os.access``, which says yes to everything when run as root."""
    try:
        st = os.stat(target)
        if not st.st_mode & 0o222:
            raise MetadataError(name, "the file is read-only; not written")
    except FileNotFoundError:
        pass
    folder = target.parent
    if not os.stat(folder).st_mode & 0o222 or not os.access(folder, os.W_OK):
        raise MetadataError(name, f"its folder {folder} is read-only; not written")


def _embed(module: ModuleType, data: bytes, change: Change, name: str) -> bytes:
    return bytes(module.embed(data, change, name))


def _verify(
    module: ModuleType, old: bytes, new: bytes, change: Change, the_plan: Plan, name: str
) -> None:
    """The new bytes hold what we meant and the same image; ``MetadataError`` otherwise."""
    from . import pixels

    back = module.extract(new, name)
    if change.xmp is not None:
        _check_packet(back.xmp, the_plan, name)
    if change.exif_description is not None:
        got = descriptions.decode_exif(back.exif_description or b"")
        if got != change.exif_description:
            raise MetadataError(name, "EXIF ImageDescription did not read back; not written")
    if change.iim_caption is not None:
        got = descriptions.decode_iim(back.iim_caption or b"", back.iim_utf8)
        if not got or not change.iim_caption.startswith(got):
            raise MetadataError(name, "IIM Caption-Abstract did not read back; not written")
    module.check_lossless(old, new, name)
    # a JPEG proved byte-identical where decoding reads: a 1/8-scale decode (pixels.py)
    pixels.check_same_pixels(old, new, name, reduced=module.__name__.endswith(".jpeg"))


def _check_packet(raw: bytes | None, the_plan: Plan, name: str) -> None:
    if raw is None:
        raise MetadataError(name, "the XMP packet did not read back; not written")
    read = xmp.read_packet(raw, name)
    if (
        read.first(xmp.ALT_TEXT) != the_plan.wanted.alt_text
        or read.digest != the_plan.wanted.digest
    ):
        raise MetadataError(name, "the alt text did not read back; not written")


def _sidecar_notes(the_plan: Plan) -> tuple[str, ...]:
    if the_plan.exif is None and the_plan.iim is None:
        return ()
    return ("EXIF / IIM not written: a sidecar holds XMP only",)


def _replace(target: Path, name: str, data: bytes, st: os.stat_result, keep_mtime: bool) -> None:
    times = (st.st_atime_ns, st.st_mtime_ns) if keep_mtime else None
    try:
        durable.write_atomically(
            target, data, unchanged=(st.st_size, st.st_mtime_ns), times_ns=times
        )
    except OSError as e:
        raise MetadataError(name, f"not written: {e.strerror or e}") from e


def _to_sidecar(photo: Path, name: str, the_plan: Plan, result: WriteResult) -> WriteResult:
    """Merge the XMP into the photo's sidecar (created as ``photo.ext.xmp`` when none exists)."""
    side = sidecar.sidecar_for_write(photo)
    st: os.stat_result | None = None
    raw: bytes | None = None
    if side.exists():
        st, raw = _stat_and_read(side, str(side))
    packet, changed = xmp_merge.merge(raw, the_plan.wanted, str(side))
    if not changed:
        return WriteResult(name, None, str(side), unchanged=True, notes=result.notes)
    _check_packet(packet, the_plan, str(side))
    _check_writable(side, str(side))
    try:
        durable.write_atomically(
            side, packet, unchanged=(st.st_size, st.st_mtime_ns) if st is not None else None
        )
    except OSError as e:
        raise MetadataError(str(side), f"not written: {e.strerror or e}") from e
    return WriteResult(name, "sidecar", str(side), tuple(_xmp_tags(the_plan)), notes=result.notes)

"""IPTC IIM datasets and the Photoshop image resources (8BIM) that carry them in JPEG APP13.

Setting the caption changes exactly three things: dataset 2:120 (Caption-Abstract, UTF-8, at most
2000 bytes cut at a character boundary), dataset 1:90 (``ESC % G``: the block is UTF-8), and the
8BIM 0x0425 digest (MD5 of the IIM block). Every other dataset and resource is copied as stored;
only text datasets of an old block without a charset that are not valid UTF-8 are re-encoded
(from Windows-1252, the charset ExifTool and Photoshop assume) so that 1:90 stays true.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from ...ground.errors import MetadataError

CAPTION = (2, 120)
CHARSET = (1, 90)
UTF8_MARK = b"\x1b%G"
MAX_CAPTION_BYTES = 2000
IIM_RESOURCE = 0x0404
DIGEST_RESOURCE = 0x0425
#: Record 2 datasets that are binary, not text: never re-encoded.
BINARY_DATASETS = {(2, 0), (2, 125), (2, 200), (2, 201), (2, 202)}


@dataclass(frozen=True)
class Dataset:
    record: int
    number: int
    value: bytes


@dataclass(frozen=True)
class Resource:
    signature: bytes
    id: int
    name: bytes  # the Pascal name with its pad byte, as stored
    data: bytes
    raw: bytes  # the whole resource with its padding, as stored


def read_datasets(block: bytes, name: str) -> tuple[list[Dataset], bytes]:
    """The datasets, and the bytes after the last one (usually NUL padding), kept as they are."""
    found, at = [], 0
    while at < len(block) and block[at] == 0x1C:
        if at + 5 > len(block):
            raise MetadataError(name, "IPTC: a dataset header runs off the end")
        record, number, size = block[at + 1], block[at + 2], (block[at + 3] << 8) | block[at + 4]
        at += 5
        if size & 0x8000:  # extended dataset: the next (size & 0x7FFF) bytes hold the length
            width = size & 0x7FFF
            if width > 4 or at + width > len(block):
                raise MetadataError(name, "IPTC: a bad extended dataset length")
            size, at = int.from_bytes(block[at : at + width], "big"), at + width
        if at + size > len(block):
            raise MetadataError(name, f"IPTC: dataset {record}:{number} runs off the end")
        found.append(Dataset(record, number, block[at : at + size]))
        at += size
    return found, block[at:]


def write_datasets(datasets: list[Dataset], tail: bytes = b"") -> bytes:
    out = bytearray()
    for d in datasets:
        size = len(d.value)
        head = struct.pack(">H", size) if size < 0x8000 else b"\x80\x04" + struct.pack(">I", size)
        out += bytes((0x1C, d.record, d.number)) + head + d.value
    return bytes(out + tail)


def caption_and_charset(block: bytes, name: str) -> tuple[bytes | None, bool]:
    datasets, _ = read_datasets(block, name)
    caption = next((d.value for d in datasets if (d.record, d.number) == CAPTION), None)
    utf8 = any((d.record, d.number) == CHARSET and d.value == UTF8_MARK for d in datasets)
    return caption, utf8


def cut_utf8(text: str, limit: int = MAX_CAPTION_BYTES) -> bytes:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return encoded
    return encoded[:limit].decode("utf-8", errors="ignore").encode("utf-8")


def _reencoded(d: Dataset) -> Dataset:
    if d.record != 2 or (d.record, d.number) in BINARY_DATASETS or d.value.isascii():
        return d
    try:
        d.value.decode("utf-8")
        return d
    except UnicodeDecodeError:
        text = "".join(
            bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in d.value
        )  # the five bytes cp1252 leaves undefined are read as Latin-1, as ExifTool does
        return Dataset(d.record, d.number, text.encode("utf-8"))


def _put(datasets: list[Dataset], new: Dataset) -> list[Dataset]:
    """Replace the first dataset of the same number (dropping repeats: both are non-repeatable),
    else insert it before the first dataset that sorts after it."""
    key = (new.record, new.number)
    if any((d.record, d.number) == key for d in datasets):
        out, done = [], False
        for d in datasets:
            if (d.record, d.number) == key:
                if not done:
                    out.append(new)
                done = True
            else:
                out.append(d)
        return out
    at = next((i for i, d in enumerate(datasets) if (d.record, d.number) > key), len(datasets))
    return [*datasets[:at], new, *datasets[at:]]


def set_caption(block: bytes | None, caption: str, name: str) -> bytes:
    """The IIM block with 2:120 and 1:90 set; a new block when ``block`` is None."""
    if block is None:
        datasets = [Dataset(1, 0, b"\x00\x04"), Dataset(2, 0, b"\x00\x04")]
        tail = b""
    else:
        datasets, tail = read_datasets(block, name)
        if not caption_and_charset(block, name)[1]:
            datasets = [_reencoded(d) for d in datasets]
    datasets = _put(datasets, Dataset(*CHARSET, UTF8_MARK))
    datasets = _put(datasets, Dataset(*CAPTION, cut_utf8(caption)))
    return write_datasets(datasets, tail)


def read_resources(irb: bytes, name: str) -> list[Resource]:
    found, at = [], 0
    while at < len(irb):
        if irb[at:] == b"\0" * (len(irb) - at):
            break  # NUL padding after the last resource
        if at + 12 > len(irb):
            raise MetadataError(name, "Photoshop resources: a resource header runs off the end")
        start, signature = at, irb[at : at + 4]
        (rid,) = struct.unpack_from(">H", irb, at + 4)
        name_len = irb[at + 6]
        name_end = at + 6 + name_len + 1 + ((name_len + 1) % 2)
        if name_end + 4 > len(irb):
            raise MetadataError(name, "Photoshop resources: a resource name runs off the end")
        (size,) = struct.unpack_from(">I", irb, name_end)
        at = name_end + 4
        if at + size > len(irb):
            raise MetadataError(name, f"Photoshop resources: resource {rid:#06x} runs off the end")
        data = irb[at : at + size]
        at = min(len(irb), at + size + size % 2)
        found.append(Resource(signature, rid, irb[start + 6 : name_end], data, irb[start:at]))
    return found


def make_resource(rid: int, data: bytes, name: bytes = b"\0\0") -> Resource:
    raw = b"8BIM" + struct.pack(">H", rid) + name + struct.pack(">I", len(data)) + data
    return Resource(b"8BIM", rid, name, data, raw + b"\0" * (len(data) % 2))


def find_iim(irb: bytes, name: str) -> bytes | None:
    resources = read_resources(irb, name)
    return next((r.data for r in resources if _is(r, IIM_RESOURCE)), None)


def _is(r: Resource, rid: int) -> bool:
    return r.signature == b"8BIM" and r.id == rid


def set_caption_in_resources(irb: bytes, caption: str, name: str) -> bytes:
    """The resources with the IIM caption set and the digest recomputed (added when missing)."""
    old = next((r for r in read_resources(irb, name) if _is(r, IIM_RESOURCE)), None)
    block = set_caption(old.data if old is not None else None, caption, name)
    return with_block(irb, block, name, add=True)


def with_block(irb: bytes, block: bytes, name: str, add: bool) -> bytes:
    """The resources with the IIM resource replaced by ``block`` (added only when ``add``) and
    the digest set to its MD5 (added when missing); every other resource as stored."""
    resources = read_resources(irb, name)
    old = next((r for r in resources if _is(r, IIM_RESOURCE)), None)
    out = [r for r in resources if not _is(r, DIGEST_RESOURCE) and not _is(r, IIM_RESOURCE)]
    where = min(resources.index(old) if old is not None else len(out), len(out))
    if old is not None or add:
        out.insert(where, make_resource(IIM_RESOURCE, block, old.name if old else b"\0\0"))
        where += 1
    old_digest = next((r for r in resources if _is(r, DIGEST_RESOURCE)), None)
    digest_name = old_digest.name if old_digest is not None else b"\0\0"
    at = resources.index(old_digest) if old_digest is not None else where
    out.insert(
        min(at, len(out)), make_resource(DIGEST_RESOURCE, hashlib.md5(block).digest(), digest_name)
    )
    return b"".join(r.raw for r in out)


def others(irb: bytes, name: str) -> list[bytes]:
    """The resources a caption change never touches, raw: for the lossless check."""
    return [
        r.raw
        for r in read_resources(irb, name)
        if not _is(r, IIM_RESOURCE) and not _is(r, DIGEST_RESOURCE)
    ]

"""write_alt_text end to end: in the file, losslessly and atomically; every failure leaves the
original byte-identical and no temp file; ExifTool (when installed) reads what we wrote."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from core_helpers import JPEG, jpeg_with_exif, temp_files

from nanocaption_desktop import read_descriptions, write_alt_text
from nanocaption_desktop.ground import durable
from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata import write as write_mod

EXIFTOOL = shutil.which("exiftool")


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "phôto ü.jpg"  # non-ASCII path
    shutil.copy(JPEG, path)
    return path


def test_written_into_the_file_losslessly(photo: Path):
    before = photo.read_bytes()
    os.chmod(photo, 0o640)
    result = write_alt_text(photo, "Sunlight over tall grass")
    assert result.where == "file" and result.sidecar is None and not result.unchanged
    after = photo.read_bytes()
    assert after != before and before[before.index(b"\xff\xda") :] in after  # scan data kept
    assert stat.S_IMODE(os.stat(photo).st_mode) == 0o640
    assert read_descriptions(photo).winner.text == "Sunlight over tall grass"
    assert temp_files(photo.parent) == []


def test_unchanged_text_is_not_written_again(photo: Path):
    write_alt_text(photo, "Sunlight over tall grass")
    st, data = os.stat(photo), photo.read_bytes()
    again = write_alt_text(photo, "Sunlight over tall grass")
    assert again.unchanged and again.where is None and again.fields == ()
    assert photo.read_bytes() == data and os.stat(photo).st_mtime_ns == st.st_mtime_ns


def test_keep_mtime(photo: Path):
    os.utime(photo, ns=(1_000_000_000_000_000_000, 1_100_000_000_123_456_789))
    write_alt_text(photo, "A field", keep_mtime=True)
    assert os.stat(photo).st_mtime_ns == 1_100_000_000_123_456_789
    write_alt_text(photo, "A field in the sun")
    assert os.stat(photo).st_mtime_ns != 1_100_000_000_123_456_789


def test_a_symlink_is_followed_and_stays_a_link(photo: Path, tmp_path: Path):
    link = tmp_path / "link.jpg"
    link.symlink_to(photo)
    write_alt_text(link, "A meadow")
    assert link.is_symlink() and read_descriptions(photo).winner.text == "A meadow"


def test_a_packet_too_big_for_the_file_goes_to_a_sidecar(photo: Path):
    before = photo.read_bytes()
    text = "word " * 9000  # ~45 kB, three times over (alt, extended, dc): over 65,502 bytes
    result = write_alt_text(photo, text)
    assert result.where == "sidecar" and result.sidecar == str(photo) + ".xmp"
    assert photo.read_bytes() == before
    assert read_descriptions(photo).winner.source == f"sidecar:{photo.name}.xmp"
    os.unlink(result.sidecar)
    with pytest.raises(MetadataError, match="does not fit"):
        write_alt_text(photo, text, sidecar=False)


def _refused(photo: Path, match: str, **kw) -> None:
    before = photo.read_bytes()
    with pytest.raises(MetadataError, match=match) as info:
        write_alt_text(photo, "A dog", **kw)
    assert info.value.path == str(photo)
    assert photo.read_bytes() == before
    assert temp_files(photo.parent) == []


def test_read_only_file_and_folder(photo: Path):
    os.chmod(photo, 0o444)
    _refused(photo, "read-only")
    os.chmod(photo, 0o644)
    os.chmod(photo.parent, 0o555)
    try:
        _refused(photo, "folder .* read-only")
    finally:
        os.chmod(photo.parent, 0o755)


def test_a_photo_changed_meanwhile_is_not_replaced(photo: Path, monkeypatch):
    verify = write_mod._verify

    def verify_then_someone_edits(*args):
        verify(*args)
        with open(photo, "ab") as f:  # another program saves the photo meanwhile
            f.write(b"edited")

    monkeypatch.setattr(write_mod, "_verify", verify_then_someone_edits)
    edited = photo.read_bytes() + b"edited"
    with pytest.raises(MetadataError, match="changed while it was being written"):
        write_alt_text(photo, "A dog")
    assert photo.read_bytes() == edited  # their edit kept, ours dropped
    assert temp_files(photo.parent) == []


def test_a_full_disk_leaves_the_original(photo: Path, monkeypatch):
    real_open = durable._open_temp

    class Full:
        def __init__(self, f):
            self._f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()

        def write(self, data):
            self._f.write(data[:10])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(durable, "_open_temp", lambda tmp: Full(real_open(tmp)))
    _refused(photo, "No space left on device")


def test_windows_sharing_errors_are_retried_others_are_not(tmp_path: Path, monkeypatch):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    real_replace, calls = os.replace, []

    def flaky(src, dst):
        calls.append(src)
        if len(calls) < 3:
            e = PermissionError(errno.EACCES, "sharing violation")
            e.winerror = 32
            raise e
        real_replace(src, dst)

    monkeypatch.setattr(durable.os, "replace", flaky)
    monkeypatch.setattr(durable.time, "sleep", lambda s: None)  # no real waiting in a test
    durable.write_atomically(target, b"new")
    assert target.read_bytes() == b"new" and len(calls) == 3

    def denied(src, dst):
        raise PermissionError(errno.EACCES, "denied")  # no winerror: not transient

    monkeypatch.setattr(durable.os, "replace", denied)
    with pytest.raises(PermissionError):
        durable.write_atomically(target, b"newer")
    assert target.read_bytes() == b"new" and temp_files(tmp_path) == []


def _exiftool(*args: str | Path) -> list[dict]:
    out = subprocess.run([EXIFTOOL, *map(str, args)], capture_output=True, check=True)
    return json.loads(out.stdout)


OURS_TAGS = {
    "XMP-iptcCore:AltTextAccessibility",
    "XMP-iptcCore:AltTextAccessibility-en",
    "XMP-iptcCore:ExtDescrAccessibility",
    "XMP-dc:Description",
    "XMP-xmp:MetadataDate",
    "XMP-nanocaption:DescriptionSHA256",
    "IFD0:ImageDescription",
    "IPTC:Caption-Abstract",
}


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool not installed")
def test_exiftool_reads_our_fields_and_every_other_tag_is_unchanged(tmp_path: Path):
    photo = jpeg_with_exif(tmp_path / "p.jpg", "OLYMPUS DIGITAL CAMERA")
    volatile = ("System:", "File:", "ExifTool:", "SourceFile", "Composite:", "XMP-x:")

    def others() -> dict:
        tags = _exiftool("-a", "-G1", "-j", photo)[0]
        return {k: v for k, v in tags.items() if k not in OURS_TAGS and not k.startswith(volatile)}

    before = others()
    text = "A small orange square, " + "very " * 60 + "orange."
    write_alt_text(photo, text)
    tags = _exiftool("-j", "-G1", "-struct", photo)[0]
    alt = tags["XMP-iptcCore:AltTextAccessibility"]
    assert len(alt) <= 250 and text.startswith(alt)
    assert tags["XMP-iptcCore:AltTextAccessibility-en"] == alt
    assert tags["XMP-iptcCore:ExtDescrAccessibility"] == text
    assert tags["XMP-dc:Description"] == text == tags["IFD0:ImageDescription"]
    assert "IPTC:Caption-Abstract" not in tags  # no IIM block: none made unless asked
    assert others() == before
    write_alt_text(photo, "A small orange square", iim=True)
    tags = _exiftool("-j", "-G1", photo)[0]
    assert tags["IPTC:Caption-Abstract"] == "A small orange square"
    assert tags["IPTC:CodedCharacterSet"] == "UTF8"


FORMATS = [("png", "PNG", {}), ("webp", "WEBP", {"lossless": True}), ("webp", "WEBP", {}),
           ("tif", "TIFF", {}), ("jpg", "JPEG", {})]  # fmt: skip


@pytest.mark.parametrize("suffix, fmt, options", FORMATS, ids=["png", "webp-vp8l", "webp-vp8",
                                                                "tiff", "jpeg"])  # fmt: skip
def test_every_container_end_to_end(tmp_path: Path, suffix: str, fmt: str, options: dict):
    from PIL import Image

    photo = tmp_path / f"p.{suffix}"
    Image.new("RGB", (9, 7), (30, 140, 90)).save(photo, fmt, **options)
    before = photo.read_bytes()
    result = write_alt_text(photo, "A green rectangle, café style")
    assert result.where == "file", result
    assert photo.read_bytes() != before and temp_files(tmp_path) == []
    found = read_descriptions(photo)
    assert found.winner.text == "A green rectangle, café style" and found.winner.ours
    assert found.format is not None
    assert write_alt_text(photo, "A green rectangle, café style").unchanged
    if EXIFTOOL is not None:
        tags = _exiftool("-j", "-G1", photo)[0]
        assert tags["XMP-iptcCore:AltTextAccessibility"] == "A green rectangle, café style"
        assert "ExifTool:Warning" not in tags, tags


def test_too_big_xmp_goes_beside_while_exif_still_goes_in(tmp_path: Path):
    photo = jpeg_with_exif(tmp_path / "a.jpg", "OLYMPUS DIGITAL CAMERA")
    text = ("word " * 9000).strip()
    result = write_alt_text(photo, text)
    assert result.where == "file+sidecar" and result.sidecar == str(tmp_path / "a.jpg.xmp")
    assert result.fields[0] == "EXIF:ImageDescription"
    by_key = {f.key: f for f in read_descriptions(photo).fields}
    assert by_key["exif_description"].text == text and by_key["exif_description"].ours
    assert by_key["alt_text"].source == "sidecar:a.jpg.xmp"
    assert write_alt_text(photo, text).unchanged

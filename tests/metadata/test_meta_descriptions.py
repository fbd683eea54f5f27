"""read_descriptions: every field with its source, the winner, sidecar naming, the write policy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from core_helpers import JPEG, image_file, jpeg_with_exif

from nanocaption_desktop import read_descriptions, write_alt_text
from nanocaption_desktop.ground.errors import MetadataError
from nanocaption_desktop.metadata import sidecar, xmp
from nanocaption_desktop.metadata.xmp_merge import EMPTY_PACKET

PERSON_DC = EMPTY_PACKET.replace(
    '<rdf:Description rdf:about=""/>',
    f'<rdf:Description rdf:about="" xmlns:dc="{xmp.DC}"><dc:description><rdf:Alt>'
    '<rdf:li xml:lang="x-default">Grandma at the lake, 1987</rdf:li></rdf:Alt>'
    "</dc:description></rdf:Description>",
)


def test_sidecar_naming_rules(tmp_path: Path):
    photo = image_file(tmp_path / "photo.gif", "GIF")
    assert sidecar.existing_sidecar(photo) is None
    assert sidecar.sidecar_for_write(photo) == tmp_path / "photo.gif.xmp"  # never photo.xmp
    (tmp_path / "photo.XMP").write_text(EMPTY_PACKET)
    assert sidecar.existing_sidecar(photo) == tmp_path / "photo.XMP"  # alone: it is this one's
    (tmp_path / "photo.cr2").write_bytes(b"raw")
    assert sidecar.existing_sidecar(photo) is None  # shared stem: whose would it be?
    assert sidecar.sidecar_for_write(photo) == tmp_path / "photo.gif.xmp"
    (tmp_path / "photo.gif.xmp").write_text(EMPTY_PACKET)
    assert sidecar.existing_sidecar(photo) == tmp_path / "photo.gif.xmp"


def test_a_sidecar_is_merged_never_replaced(tmp_path: Path):
    photo = image_file(tmp_path / "photo.bmp", "BMP")
    (tmp_path / "photo.xmp").write_text(PERSON_DC, encoding="utf-16")
    result = write_alt_text(photo, "An old photo of a woman by a lake")
    assert result.where == "sidecar" and result.sidecar == str(tmp_path / "photo.xmp")
    assert not (tmp_path / "photo.bmp.xmp").exists()
    found = read_descriptions(photo)
    texts = {(f.key, f.source): (f.text, f.ours) for f in found.fields}
    assert texts == {
        ("alt_text", "sidecar:photo.xmp"): ("An old photo of a woman by a lake", True),
        ("description", "sidecar:photo.xmp"): ("Grandma at the lake, 1987", False),
    }
    assert "dc:description kept: written by a person (overwrite to replace)" in result.notes


def test_every_field_its_source_and_the_winner(tmp_path: Path):
    photo = jpeg_with_exif(tmp_path / "p.jpg", "Taken by Ann")
    write_alt_text(photo, "A dog", iim=True)
    found = read_descriptions(photo)
    by_key = {f.key: f for f in found.fields}
    assert by_key["exif_description"].text == "Taken by Ann" and not by_key["exif_description"].ours
    assert by_key["iim_caption"].source == "iim" and by_key["iim_caption"].ours
    assert found.winner is not None and found.winner.key == "alt_text"
    data = found.to_dict()
    assert data["has_alt_text"] and data["described"] and data["format"] == "jpeg"


def test_without_alt_text_the_mwg_order_decides(tmp_path: Path):
    photo = jpeg_with_exif(tmp_path / "p.jpg", "OLYMPUS DIGITAL CAMERA")
    found = read_descriptions(photo)
    assert found.winner is None and not found.described and not found.has_alt_text
    assert found.fields[0].placeholder  # shown, never the winner
    photo2 = jpeg_with_exif(tmp_path / "q.jpg", "A red barn")
    assert read_descriptions(photo2).winner.tag == "EXIF:ImageDescription"


def test_a_persons_alt_text_is_kept_unless_overwrite(tmp_path: Path):
    photo = tmp_path / "p.jpg"
    shutil.copy(JPEG, photo)
    write_alt_text(photo, "A dog")
    packet = read_descriptions(photo)
    assert packet.winner.ours
    # a person edits the alt text in another tool: simulate by writing with overwrite and no hash
    side = image_file(tmp_path / "s.gif", "GIF")
    (tmp_path / "s.gif.xmp").write_text(
        PERSON_DC.replace("dc:description", "Iptc4xmpCore:AltTextAccessibility").replace(
            f'xmlns:dc="{xmp.DC}"', f'xmlns:Iptc4xmpCore="{xmp.CORE}"'
        )
    )
    skipped = write_alt_text(side, "A woman")
    assert skipped.skipped and "written by a person" in skipped.skipped and skipped.where is None
    assert read_descriptions(side).winner.text == "Grandma at the lake, 1987"
    done = write_alt_text(side, "A woman", overwrite=True)
    assert done.where == "sidecar" and read_descriptions(side).winner.text == "A woman"


def test_our_own_text_is_replaced_and_skip_described_skips(tmp_path: Path):
    photo = image_file(tmp_path / "p.gif", "GIF")
    write_alt_text(photo, "A dog")
    again = write_alt_text(photo, "A brown dog")  # ours: replaced, dc too
    assert again.fields == ("XMP-iptcCore:AltTextAccessibility", "XMP-dc:Description")
    assert {f.text for f in read_descriptions(photo).fields} == {"A brown dog"}
    assert write_alt_text(photo, "A cat", skip_described=True).skipped == "it already has alt text"
    assert write_alt_text(photo, "A brown dog").unchanged


def test_a_persons_exif_description_is_kept_a_cameras_replaced(tmp_path: Path):
    person = jpeg_with_exif(tmp_path / "a.jpg", "Taken by Ann")
    result = write_alt_text(person, "A dog")
    assert "EXIF:ImageDescription" not in result.fields
    assert any("EXIF ImageDescription kept" in n for n in result.notes)
    camera = jpeg_with_exif(tmp_path / "b.jpg", "OLYMPUS DIGITAL CAMERA")
    assert "EXIF:ImageDescription" in write_alt_text(camera, "A dog").fields
    by_key = {f.key: f for f in read_descriptions(camera).fields}
    assert by_key["exif_description"].text == "A dog" and by_key["exif_description"].ours


def test_exif_only_when_present_or_asked_and_ascii_unless_allowed(tmp_path: Path):
    none = jpeg_with_exif(tmp_path / "n.jpg", None)
    assert "EXIF:ImageDescription" not in write_alt_text(none, "A dog").fields
    assert "EXIF:ImageDescription" not in write_alt_text(none, "A dog!", exif=False).fields
    assert "EXIF:ImageDescription" in write_alt_text(none, "A dog.", exif=True).fields
    accented = write_alt_text(jpeg_with_exif(tmp_path / "a.jpg", None), "Un café", exif=True)
    assert "EXIF:ImageDescription" not in accented.fields
    assert "EXIF ImageDescription not written: the text is not ASCII" in accented.notes
    allowed = write_alt_text(tmp_path / "a.jpg", "Un café", exif=True, exif_non_ascii=True)
    assert "EXIF:ImageDescription" in allowed.fields
    assert read_descriptions(tmp_path / "a.jpg").fields[-1].text == "Un café"


def test_iim_only_when_present_or_asked(tmp_path: Path):
    photo = jpeg_with_exif(tmp_path / "p.jpg", None)
    assert "IPTC:Caption-Abstract" not in write_alt_text(photo, "A dog").fields
    assert "IPTC:Caption-Abstract" in write_alt_text(photo, "A dog, café", iim=True).fields
    assert "IPTC:Caption-Abstract" in write_alt_text(photo, "A cat").fields  # now present
    iim = [f for f in read_descriptions(photo).fields if f.key == "iim_caption"]
    assert [f.text for f in iim] == ["A cat"]


def test_missing_and_unreadable_files(tmp_path: Path):
    with pytest.raises(MetadataError, match="no such file"):
        read_descriptions(tmp_path / "nope.jpg")
    with pytest.raises(MetadataError, match="folder"):
        read_descriptions(tmp_path)
    with pytest.raises(MetadataError, match="empty"):
        write_alt_text(image_file(tmp_path / "e.gif", "GIF"), " \x00 ")


def test_png_description_chunk_is_read_last_in_line(tmp_path: Path):
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_itxt("Description", "Ein Diagramm", lang="de")
    photo = tmp_path / "d.png"
    Image.new("RGB", (4, 4)).save(photo, "PNG", pnginfo=info)
    found = read_descriptions(photo)
    assert [(f.key, f.source, f.text) for f in found.fields] == [
        ("png_description", "png", "Ein Diagramm")
    ]
    assert found.winner.key == "png_description"
    write_alt_text(photo, "A chart")
    assert read_descriptions(photo).winner.key == "alt_text"


def test_raw_files_get_a_sidecar_even_when_they_look_like_tiff(tmp_path: Path):
    raw = image_file(tmp_path / "DSC_0001.NEF", "TIFF")
    before = raw.read_bytes()
    result = write_alt_text(raw, "A heron", exif=True)
    assert result.where == "sidecar" and result.sidecar == str(tmp_path / "DSC_0001.NEF.xmp")
    assert result.notes == ("EXIF / IIM not written: a sidecar holds XMP only",)
    assert raw.read_bytes() == before
    assert read_descriptions(raw).format is None

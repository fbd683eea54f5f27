"""A JPEG whose ExtendedXMP holds dc:description (ExifTool moves a long one there): ExifTool shows
that one over the main packet's, and we never rewrite ExtendedXMP. So it counts as someone
else's text, and after a write the alt text ExifTool reports is ours and its Description is
still theirs, never two different descriptions."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from fixture_paths import IMAGES_DIR

from nanocaption_desktop.metadata import read_descriptions, write_alt_text

LONG = ("an old family photo from the attic " * 2500).strip()  # ~87 KB: too big for the main packet


def exiftool(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["exiftool", "-j", *args, str(path)], check=True, capture_output=True
    ).stdout
    return dict(json.loads(out)[0])


@pytest.fixture
def photo(tmp_path: Path, meta_fixtures: dict[str, Path]) -> Path:  # asks for ExifTool
    path = Path(shutil.copy(IMAGES_DIR / "sun_and_grass.jpg", tmp_path / "p.jpg"))
    text = tmp_path / "long.txt"
    text.write_text(LONG, encoding="utf-8")
    subprocess.run(
        ["exiftool", "-q", "-overwrite_original", f"-XMP-dc:Description<={text}", str(path)],
        check=True,
    )
    assert "HasExtendedXMP" in exiftool(path, "-XMP-xmpNote:all")
    return path


def test_extended_description_is_read_as_someone_elses(photo: Path) -> None:
    found = read_descriptions(photo)
    field = next(f for f in found.fields if f.key == "description")
    assert field.source == "file:extended-xmp" and not field.ours
    assert field.text == LONG


@pytest.mark.parametrize("overwrite", [False, True])
def test_exiftool_reports_our_alt_text_and_their_description_after_a_write(
    photo: Path, overwrite: bool
) -> None:
    result = write_alt_text(photo, "A meadow under a blue sky", overwrite=overwrite)
    assert result.where == "file"
    assert "XMP-dc:Description" not in result.fields  # ours would be hidden behind theirs
    assert any("ExtendedXMP" in n for n in result.notes)
    seen = exiftool(photo, "-XMP-iptcCore:AltTextAccessibility", "-XMP-dc:Description", "-a")
    assert seen["AltTextAccessibility"] == "A meadow under a blue sky"
    assert seen["Description"] == LONG  # one description: theirs, not two

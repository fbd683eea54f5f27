"""`batch --files-from LIST` and `caption_folder(base, files=[...])`: the images a list names,
keys relative to the list's folder, a missing line failing that line only."""

from __future__ import annotations

import io
import shutil
import sys

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE

from nanocaption_desktop.cli_batch import main
from nanocaption_desktop.jobs import caption_folder, read_csv
from nanocaption_desktop.jobs.filelist import ListedFile, parse_file_list

NAMES = sorted(p.name for p in IMAGES_DIR.iterdir())


@pytest.fixture
def photos(tmp_path):
    """The fixture images in `photos/` and two more in `other/` (outside the list's folder)."""
    photos, other = tmp_path / "photos", tmp_path / "other"
    shutil.copytree(IMAGES_DIR, photos)
    other.mkdir()
    for name in NAMES[:2]:
        shutil.copy(IMAGES_DIR / name, other / name)
    return photos


def _captions(path) -> dict[str, str]:
    return {row["path"]: row["caption"] for row in read_csv(path)}


def test_parse_skips_blanks_and_comments_and_names_the_line():
    data = b"\xef\xbb\xbf# header\n\n  a.jpg  \r\n#b.jpg\nsub/c d.png\n"
    assert parse_file_list(data, "l.txt") == (
        ListedFile("a.jpg", "l.txt line 3"),
        ListedFile("sub/c d.png", "l.txt line 5"),
    )
    with pytest.raises(ValueError, match=r"^l.txt: not a UTF-8 text file list \(line 2\)$"):
        parse_file_list(b"a.jpg\n\xff\xfe\x00b\n", "l.txt")
    with pytest.raises(ValueError, match=r"^l.txt: not a text file list \(a NUL byte on line 1\)"):
        parse_file_list(b"a\x00.jpg\n", "l.txt")


def test_list_gives_the_folder_batchs_captions_and_fails_a_missing_line(photos, tmp_path):
    listing = photos / "list.txt"
    outside = tmp_path / "other" / NAMES[0]
    lines = ["# chosen photos", "", NAMES[2], "missing.jpg", f"./{NAMES[0]}", str(outside)]
    lines += [NAMES[2]]  # the same file again: skipped
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    csv, ref = tmp_path / "list.csv", tmp_path / "ref.csv"
    assert main([str(photos), "--csv", str(ref), "--model", str(TINY_BUNDLE)]) == 0
    code = main(["--files-from", str(listing), "--csv", str(csv), "--model", str(TINY_BUNDLE)])
    assert code == 1  # one failed line
    rows = read_csv(csv)
    keys = [r["path"] for r in rows]
    # the list's order; keys relative to the folder holding the list's folder and every file
    assert keys == [f"photos/{NAMES[2]}", "photos/missing.jpg", f"photos/{NAMES[0]}"] + [
        f"other/{NAMES[0]}"
    ]
    missing = rows[1]
    assert missing["status"] == "failed"
    assert missing["error"].startswith(f"{listing} line 4: cannot be read")
    reference = _captions(ref)
    got = _captions(csv)
    assert got[f"photos/{NAMES[2]}"] == reference[NAMES[2]]
    assert got[f"photos/{NAMES[0]}"] == reference[NAMES[0]]
    assert got[f"other/{NAMES[0]}"] == reference[NAMES[0]]  # the same image, outside the folder
    # a rerun resumes what is done; the missing line is tried (and fails) again
    again = list(caption_folder(photos, files=lines[2:], csv=csv, model=TINY_BUNDLE))
    assert [r.resumed for r in again] == [True, False, True, True]
    # a shorter list: what left it leaves the outputs
    list(caption_folder(photos, files=[NAMES[2]], csv=csv, model=TINY_BUNDLE))
    assert [r["path"] for r in read_csv(csv)] == [NAMES[2]]  # all inside: relative to photos/


def test_stdin_list_resolves_against_the_current_folder(photos, tmp_path, monkeypatch):
    monkeypatch.chdir(photos)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(f"{NAMES[1]}\n".encode())))
    csv = tmp_path / "s.csv"
    assert main(["--files-from", "-", "--csv", str(csv), "--model", str(TINY_BUNDLE)]) == 0
    assert [r["path"] for r in read_csv(csv)] == [NAMES[1]]


def test_bad_lists_and_usage_are_one_line_errors(photos, tmp_path, capsys):
    binary = tmp_path / "list.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff")
    cases = {
        ("--files-from", str(binary)): f"{binary}: not a UTF-8 text file list (line 1)",
        ("--files-from", str(tmp_path / "nope.txt")): f"{tmp_path / 'nope.txt'}: no such file list",
        ("--files-from", str(binary), str(photos)): "give DIR or --files-from LIST, not both",
        ("--files-from", str(binary), "-r"): "--recursive applies to DIR",
        (): "give the folder of images (DIR) or --files-from LIST",
    }
    for args, message in cases.items():
        assert main([*args, "--csv", str(tmp_path / "x.csv")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()


def test_uris_without_ray_are_refused(photos, tmp_path, capsys):
    listing = tmp_path / "uris.txt"
    listing.write_text(f"{photos.as_uri()}/{NAMES[0]}\n", encoding="utf-8")
    for args in ([photos.as_uri()], ["--files-from", str(listing)]):
        assert main([*args, "--csv", str(tmp_path / "x.csv")]) == 2
        err = capsys.readouterr().err
        assert "object-store URIs are read only by a batch on a Ray cluster: add --ray" in err
    with pytest.raises(ValueError, match="add --ray"):
        list(caption_folder("s3://bucket/photos", csv=tmp_path / "y.csv"))


def test_a_lists_journal_is_not_its_folders(photos):
    """Sidecars alone (journal in the user data folder): a list's batch of a folder and the
    folder's own batch keep apart journals (their headers differ: one would replace the other)."""
    from nanocaption_desktop.jobs import BatchSpec
    from nanocaption_desktop.jobs.settings import default_journal

    folder = default_journal(BatchSpec(photos, sidecars="skip"))
    listed = default_journal(BatchSpec(photos, sidecars="skip", files=[NAMES[0]]))
    assert folder is not None and listed is not None and folder != listed

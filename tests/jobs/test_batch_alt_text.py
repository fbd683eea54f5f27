"""A batch that writes each caption into its photo (issue 14): results, journal, resume, policy."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from batch_helpers import IMAGES, FakeCaptioner

from nanocaption_desktop.jobs import ResultStatus, caption_folder, read_jsonl
from nanocaption_desktop.jobs.photo_writes import remove_photo_temp, signature
from nanocaption_desktop.jobs.spec import BatchSpec
from nanocaption_desktop.metadata import read_descriptions

CAPTIONS = ["a dog on a beach", "a red car parked on a street", "a bowl of fruit on a table"]
PHOTOS = ("sun_and_grass.jpg", "gradient.png", "blocks.webp", "tall_strip.bmp")

PERSON_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">
 <Iptc4xmpCore:AltTextAccessibility><rdf:Alt><rdf:li xml:lang="x-default">Grandma's garden,
 summer 1998</rdf:li></rdf:Alt></Iptc4xmpCore:AltTextAccessibility>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    out = tmp_path / "photos"
    out.mkdir()
    for name in PHOTOS:
        (out / name).write_bytes((IMAGES / name).read_bytes())
    return out


def fake() -> FakeCaptioner:
    return FakeCaptioner(captions=list(CAPTIONS))


def run(folder: Path, captioner: FakeCaptioner | None = None, **kw) -> dict[str, object]:
    kw.setdefault("jsonl", folder.parent / "out.jsonl")
    results = caption_folder(folder, captioner=captioner or fake(), write_metadata=True, **kw)
    return {r.relpath: r for r in results}


def digests(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def journal_records(path: Path) -> dict[str, dict]:
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    return {r["key"]: r for r in lines if "key" in r}


def test_captions_go_into_the_photos_and_the_journal_says_where(folder: Path) -> None:
    results = run(folder)
    assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items()}
    for name in PHOTOS:
        descs = read_descriptions(folder / name)
        assert descs.winner is not None and descs.winner.ours
        assert descs.winner.text == results[name].caption
    assert results["sun_and_grass.jpg"].alt_text["where"] == "file"
    assert "XMP-iptcCore:AltTextAccessibility" in results["gradient.png"].alt_text["fields"]
    bmp = results["tall_strip.bmp"].alt_text  # BMP holds no XMP: beside it
    assert bmp["where"] == "sidecar" and bmp["sidecar"].endswith("tall_strip.bmp.xmp")
    rows = {r["path"]: r for r in read_jsonl(folder.parent / "out.jsonl")}
    assert rows["blocks.webp"]["alt_text"]["where"] == "file"
    recs = journal_records(folder.parent / "out.jsonl.journal.jsonl")
    jpg = recs["sun_and_grass.jpg"]
    assert jpg["metadata"] == "alt-text" and jpg["alt_text"]["where"] == "file"
    st = os.stat(folder / "sun_and_grass.jpg")  # the photo as we left it is the one recorded
    assert (jpg["size"], jpg["mtime_ns"]) == (st.st_size, st.st_mtime_ns)


def test_resume_writes_nothing_twice(folder: Path) -> None:
    run(folder)
    before = digests(folder)
    again = run(folder)
    assert all(r.resumed and r.ok for r in again.values())
    assert again["sun_and_grass.jpg"].alt_text["where"] == "file"  # from the record
    assert digests(folder) == before


def test_killed_after_the_write_before_the_record_redoes_the_row_writes_nothing(
    folder: Path,
) -> None:
    run(folder)
    before = digests(folder)
    (folder.parent / "out.jsonl.journal.jsonl").unlink()  # the records never made it
    again = run(folder)
    assert not any(r.resumed for r in again.values())
    assert all(r.alt_text["unchanged"] for r in again.values()), again
    assert digests(folder) == before


def test_changed_photo_is_redone_and_only_it(folder: Path) -> None:
    run(folder)
    photo = folder / "gradient.png"
    st = photo.stat()
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched by someone
    again = run(folder)
    assert [k for k, r in again.items() if not r.resumed] == ["gradient.png"]
    assert again["gradient.png"].alt_text == {"unchanged": True}


def test_a_persons_alt_text_is_kept_and_recorded_as_skipped(folder: Path) -> None:
    photo = folder / "sun_and_grass.jpg"
    (folder / "sun_and_grass.jpg.xmp").write_text(PERSON_SIDECAR, encoding="utf-8")
    original = photo.read_bytes()
    results = run(folder)
    skipped = results["sun_and_grass.jpg"]
    assert skipped.ok and "written by a person" in skipped.alt_text["skipped"]
    assert photo.read_bytes() == original
    recs = journal_records(folder.parent / "out.jsonl.journal.jsonl")
    assert "written by a person" in recs["sun_and_grass.jpg"]["alt_text"]["skipped"]
    assert results["gradient.png"].alt_text["where"] == "file"


def test_overwrite_replaces_a_persons_and_other_options_redo_the_rows(folder: Path) -> None:
    (folder / "sun_and_grass.jpg.xmp").write_text(PERSON_SIDECAR, encoding="utf-8")
    run(folder)
    again = run(folder, overwrite=True)  # other options than the records': every row redone
    assert not any(r.resumed for r in again.values())
    assert "skipped" not in again["sun_and_grass.jpg"].alt_text
    assert read_descriptions(folder / "sun_and_grass.jpg").winner.ours


def test_skip_described_leaves_photos_with_alt_text(folder: Path) -> None:
    run(folder)  # every photo has (our) alt text now
    before = digests(folder)
    again = run(folder, skip_described=True)
    assert all(r.alt_text["skipped"] == "it already has alt text" for r in again.values())
    assert digests(folder) == before


def test_a_refused_photo_fails_that_image_only(folder: Path) -> None:
    photo = folder / "gradient.png"
    photo.chmod(0o444)
    original = photo.read_bytes()
    results = run(folder)
    bad = results["gradient.png"]
    assert bad.status is ResultStatus.FAILED
    assert bad.error == "alt text not written: the file is read-only; not written"
    assert photo.read_bytes() == original
    assert all(r.ok for k, r in results.items() if k != "gradient.png")
    photo.chmod(0o644)  # the next run retries the failed one
    again = run(folder)
    assert not again["gradient.png"].resumed and again["gradient.png"].ok
    assert again["gradient.png"].alt_text["where"] == "file"


def test_stale_temp_copy_of_a_photo_is_removed_by_the_next_batch(folder: Path) -> None:
    dead = 2**22 + 12345  # above pid_max on Linux: no such process
    leftover = folder / f".sun_and_grass.jpg.{dead}.nctmp"  # a write killed before its rename
    leftover.write_bytes((folder / "sun_and_grass.jpg").read_bytes()[:5000])
    stranger = folder / f".not_a_photo_here.jpg.{dead}.nctmp"  # no photo of that name: kept
    stranger.write_bytes(leftover.read_bytes())
    run(folder)
    assert not leftover.exists() and stranger.exists()
    assert not remove_photo_temp(stranger)


def test_metadata_only_batch_keeps_its_journal_in_user_data(folder: Path) -> None:
    results = list(caption_folder(folder, captioner=fake(), write_metadata=True))
    assert all(r.ok for r in results)
    again = list(caption_folder(folder, captioner=fake(), write_metadata=True))
    assert all(r.resumed for r in again)


def test_signature_names_the_options() -> None:
    assert signature(BatchSpec("x")) is None
    spec = BatchSpec("x", write_metadata=True, overwrite=True, exif=False, iim=True)
    assert signature(spec) == "alt-text+overwrite+no-exif+iim"


def test_skip_described_alone_computes_no_caption_for_described_photos(folder: Path) -> None:
    list(caption_folder(folder, captioner=fake(), write_metadata=True))
    (folder / "new.png").write_bytes((IMAGES / "gradient.png").read_bytes())
    counting = fake()
    again = {
        r.relpath: r
        for r in caption_folder(
            folder, captioner=counting, write_metadata=True, skip_described=True, resume=False
        )
    }
    assert counting.calls == 1  # only the photo without alt text was captioned
    assert again["new.png"].alt_text["where"] == "file"
    assert again["gradient.png"].alt_text == {"skipped": "it already has alt text"}

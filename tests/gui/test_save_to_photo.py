"""Alt text from the window (issue 14): Save to photo (Ctrl+S), what a photo already says, the
Batch page's "Write alt text into the photos"."""

from __future__ import annotations

import shutil
from pathlib import Path

from gui_helpers import FIXTURE_IMAGES, PHOTO, drop_urls
from PySide6.QtCore import Qt

from nanocaption_desktop.gui.dialogs import SHORTCUTS
from nanocaption_desktop.metadata import read_descriptions, write_alt_text

PERSON = "Grandma's garden, summer 1998"


def person_wrote(photo: Path, text: str) -> None:
    """Alt text a person wrote: in a sidecar beside the photo (as digiKam may keep it)."""
    Path(f"{photo}.xmp").write_text(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:Iptc4xmpCore="http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/">'
        "<Iptc4xmpCore:AltTextAccessibility><rdf:Alt>"
        f'<rdf:li xml:lang="x-default">{text}</rdf:li></rdf:Alt>'
        "</Iptc4xmpCore:AltTextAccessibility></rdf:Description></rdf:RDF></x:xmpmeta>",
        encoding="utf-8",
    )


def open_photo(qtbot, window, photo: Path) -> str:
    meta = window.metadata
    with qtbot.waitSignals([window.caption_shown, meta.existing_shown], timeout=30_000):
        drop_urls(window.drop_area, [photo])
    return window.caption_panel.text()


def press_ctrl_s(qtbot, window) -> object:
    with qtbot.waitSignal(window.metadata.saved, timeout=30_000) as saved:
        qtbot.keyClick(window, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    return saved.args[0]


def test_ctrl_s_saves_the_edited_caption_into_the_photo_and_says_so(qtbot, window, tmp_path):
    photo = Path(shutil.copy(PHOTO, tmp_path / "photo.jpg"))
    open_photo(qtbot, window, photo)
    assert not window.metadata.existing.isVisible()  # nothing in it yet
    window.caption_panel.edit.setPlainText("A sunny meadow under a blue sky")  # edited by hand
    window.activateWindow()
    result = press_ctrl_s(qtbot, window)
    assert result.where == "file"
    assert window.statusBar().currentMessage() == "Saved into photo.jpg as alt text"
    winner = read_descriptions(photo).winner
    assert winner.text == "A sunny meadow under a blue sky" and winner.ours
    qtbot.waitUntil(lambda: window.metadata.existing.isVisible(), timeout=10_000)
    assert window.metadata.existing.text() == (
        "Already in the photo (written by NanoCaption): A sunny meadow under a blue sky"
    )


def test_opening_a_described_photo_shows_its_description(qtbot, window, tmp_path):
    photo = Path(shutil.copy(PHOTO, tmp_path / "photo.jpg"))
    person_wrote(photo, PERSON)
    open_photo(qtbot, window, photo)
    assert window.metadata.existing.isVisibleTo(window)
    assert window.metadata.existing.text() == f"Already in the photo: {PERSON}"


def test_a_persons_description_asks_before_it_is_replaced(qtbot, window, tmp_path):
    photo = Path(shutil.copy(PHOTO, tmp_path / "photo.jpg"))
    person_wrote(photo, PERSON)
    original = photo.read_bytes()
    asked: list[str] = []
    answers = iter([False, True])
    window.metadata.ask = lambda parent, text: asked.append(text) or next(answers)
    caption = open_photo(qtbot, window, photo)
    with qtbot.waitSignal(window.metadata.message, timeout=30_000,
                          check_params_cb=lambda m: m.startswith("Not saved")):  # fmt: skip
        window.metadata.save()
    assert asked == [PERSON]  # the question shows the person's text
    assert photo.read_bytes() == original
    assert "keeps its own description" in window.statusBar().currentMessage()
    result = press_ctrl_s(qtbot, window)  # asked again, and this time: yes
    assert asked == [PERSON, PERSON] and result.where in ("file", "file+sidecar", "sidecar")
    assert read_descriptions(photo).winner.text == caption


def test_a_refused_save_says_why_and_leaves_the_photo(qtbot, window, tmp_path):
    photo = Path(shutil.copy(PHOTO, tmp_path / "photo.jpg"))
    open_photo(qtbot, window, photo)
    photo.chmod(0o444)
    before = photo.read_bytes()
    reason = press_ctrl_s(qtbot, window)
    assert reason == f"{photo}: the file is read-only; not written"
    assert window.statusBar().currentMessage() == f"Not saved: {reason}"
    assert photo.read_bytes() == before


def test_a_bmp_goes_to_its_sidecar_and_the_status_names_it(qtbot, window, tmp_path):
    photo = Path(shutil.copy(FIXTURE_IMAGES / "tall_strip.bmp", tmp_path / "strip.bmp"))
    open_photo(qtbot, window, photo)
    result = press_ctrl_s(qtbot, window)
    assert result.where == "sidecar"
    assert window.statusBar().currentMessage().startswith(f"Saved to {photo}.xmp")


def test_ctrl_s_is_listed_and_clashes_with_nothing(window):
    keys = [k for k, _ in SHORTCUTS]
    assert keys.count("Ctrl+S") == 1
    bound = [a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()]
    assert bound.count("Ctrl+S") == 1 and len(bound) == len(set(bound))


def test_batch_option_writes_alt_text_and_is_remembered(qtbot, window, settings, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("sun_and_grass.jpg", "gradient.png"):
        shutil.copy(FIXTURE_IMAGES / name, folder / name)
    write_alt_text(folder / "gradient.png", "already ours")  # replaced: it is ours
    window.batch_panel.write_metadata.setChecked(True)
    assert window.batches.spec().write_metadata
    with qtbot.waitSignal(window.batch_done, timeout=60_000) as done:
        drop_urls(window.drop_area, [folder])
    assert done.args[0].failed == 0
    rows = {r.path.rsplit("/", 1)[-1]: r for r in window.results_model.rows()}
    for name in ("sun_and_grass.jpg", "gradient.png"):
        winner = read_descriptions(folder / name).winner
        assert winner.ours and winner.text == rows[name].caption
    window.close()
    assert settings.batch_write_metadata()

"""One batch spec: ``BatchSpec`` built from strings or paths, ``caption_folder(spec)`` equal to
``caption_folder(path, **keywords)``, the pre-flight checks for both, wrong calls refused."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from batch_helpers import FakeCaptioner, make_images

from nanocaption_desktop.engine.errors import RequestError
from nanocaption_desktop.engine.limits import MAX_BEAMS
from nanocaption_desktop.jobs import BatchSpec, OutputRefused, SidecarPolicy, caption_folder
from nanocaption_desktop.jobs.spec import SPEC_FIELDS


def test_spec_stores_paths_and_the_policy_whatever_they_came_as(tmp_path: Path) -> None:
    as_text = BatchSpec(str(tmp_path), csv="o.csv", sidecars="append", model="m", prefetch=0)
    as_objects = BatchSpec(
        tmp_path, csv=Path("o.csv"), sidecars=SidecarPolicy.APPEND, model=Path("m"), prefetch=1
    )
    assert as_text == as_objects
    assert as_text.csv == Path("o.csv") and as_text.sidecars is SidecarPolicy.APPEND
    assert as_text.folder == str(tmp_path) and as_text.prefetch == 1  # at least one, as before
    with pytest.raises(dataclasses.FrozenInstanceError):
        as_text.beams = 3  # type: ignore[misc]


def test_the_keywords_are_the_spec_fields() -> None:
    names = {f.name for f in dataclasses.fields(BatchSpec)}
    assert SPEC_FIELDS == names - {"folder"}
    assert {"csv", "jsonl", "sidecars", "journal", "prefetch", "isolate", "model"} <= SPEC_FIELDS


def test_caption_folder_with_a_spec_equals_the_keyword_call(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    make_images(one / "sub", 3)
    make_images(one, 4, prefix="top")
    shutil.copytree(one, two)
    choices = dict(recursive=True, sidecars="overwrite", beams=2, prefetch=1, resume=False)
    by_keywords = list(
        caption_folder(one, captioner=FakeCaptioner(), csv=tmp_path / "k.csv", **choices)
    )
    spec = BatchSpec(two, csv=tmp_path / "s.csv", **choices)  # type: ignore[arg-type]
    by_spec = list(caption_folder(spec, captioner=FakeCaptioner()))

    def plain(results: list) -> list:
        return [(r.relpath, r.status, r.caption, r.score, r.sidecar) for r in results]

    def sidecars(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*.txt")}

    assert len(by_spec) == 7 and plain(by_spec) == plain(by_keywords)
    assert (tmp_path / "s.csv").read_bytes() == (tmp_path / "k.csv").read_bytes()
    assert len(sidecars(two)) == 7 and sidecars(two) == sidecars(one)


@pytest.mark.parametrize("how", ["spec", "keywords"])
def test_preflight_checks_run_before_any_work_for_both_forms(tmp_path: Path, how: str) -> None:
    make_images(tmp_path, 2)
    never = tmp_path / "no-model"  # loading it would fail with ModelError: it must not be loaded

    def call(**kw):
        if how == "spec":
            return caption_folder(BatchSpec(tmp_path, model=never, **kw))
        return caption_folder(tmp_path, model=never, **kw)

    with pytest.raises(RequestError):
        call(beams=MAX_BEAMS + 1)
    with pytest.raises(OutputRefused, match="image's name"):
        call(csv=tmp_path / "out.png")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        caption_folder(BatchSpec(tmp_path / "gone"), captioner=FakeCaptioner())
    assert not list(tmp_path.glob("*.journal.jsonl")) and not (tmp_path / "out.png").exists()


def test_a_spec_with_keywords_or_an_unknown_keyword_is_a_wrong_call(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not both"):
        caption_folder(BatchSpec(tmp_path), captioner=FakeCaptioner(), csv="o.csv")
    with pytest.raises(TypeError, match="'batch_size'"):
        caption_folder(tmp_path, captioner=FakeCaptioner(), batch_size=2)
    assert not list(tmp_path.iterdir())

"""``batch --rows N`` (issue 18): the folder's captioner opens the rows graph instead of the step
graph, each lane really steps N images together, and the CSV is the one ``--rows 1`` writes,
caption for caption; ``--rows`` out of range is a usage error naming the limit."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import pytest
from fixture_paths import IMAGES_DIR, TINY_BUNDLE

import nanocaption_desktop.engine.captioner as captioner_module
from nanocaption_desktop import cli_batch
from nanocaption_desktop.engine import decoder as decoder_module
from nanocaption_desktop.engine import kernels
from nanocaption_desktop.engine.derive import derived_decoder, derived_own, derived_rows
from nanocaption_desktop.engine.errors import RequestError
from nanocaption_desktop.engine.limits import MAX_ROWS
from nanocaption_desktop.jobs import BatchSpec, caption_folder, read_csv
from nanocaption_desktop.jobs.spec import DEFAULT_ROWS


@pytest.fixture
def tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the tiny bundle, its derived copies made beside it (the rows and own
    copies' derive checks step the step graph: done here, before any spy looks)."""
    monkeypatch.setenv("NANOCAPTION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("NANOCAPTION_STOCK_DECODER", raising=False)
    dest = tmp_path / "tiny"
    shutil.copytree(TINY_BUNDLE, dest, ignore=shutil.ignore_patterns("optimized"))
    found = derived_decoder(dest / "onnx" / "decoder_with_past_model_quantized.onnx")
    rows = derived_rows(found.step) if found is not None else None
    assert rows is not None
    assert (derived_own(rows.step) is not None) == (kernels.library() is not None)
    return dest


#: the graph a folder's rows steps on: the own graph where the own kernel runs (derive/own.py)
ROWS_STEP = "own.onnx" if kernels.library() is not None else "rows.onnx"


class Spy:
    """The graphs the captioner opens, and the rows of every decoding step, by graph."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[str] = []
        self.steps: list[tuple[str, int]] = []
        make, step = captioner_module.make_session, decoder_module._HoistedRun.step

        def making(path: Any, **kw: Any) -> Any:
            self.opened.append(Path(path).name)
            return make(path, **kw)

        def stepping(run: Any, input_ids: Any) -> Any:
            self.steps.append((Path(run.dec.step._model_path).name, len(input_ids)))
            return step(run, input_ids)

        monkeypatch.setattr(captioner_module, "make_session", making)
        monkeypatch.setattr(decoder_module._HoistedRun, "step", stepping)


def batch(tiny: Path, out: Path, rows: int) -> int:
    return cli_batch.main(
        [str(IMAGES_DIR), "--model", str(tiny), "--csv", str(out), "--no-isolate",
         "--max-tokens", "12", "--rows", str(rows)]
    )  # fmt: skip


def test_rows_2_steps_two_images_together_and_writes_the_rows_1_csv(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tmp_path / "one.csv"
    assert batch(tiny, one, 1) == 0
    spy = Spy(monkeypatch)
    two = tmp_path / "two.csv"
    assert batch(tiny, two, 2) == 0
    assert ROWS_STEP in spy.opened and "step.onnx" not in spy.opened  # weights held once
    graphs = {g for g, _ in spy.steps}
    assert graphs == {ROWS_STEP}, graphs
    assert max(n for _, n in spy.steps) == 2  # two images per step
    first, second = read_csv(one), read_csv(two)
    assert len(first) == len(list(IMAGES_DIR.iterdir()))
    assert [(r["path"], r["caption"], r["status"]) for r in second] == [
        (r["path"], r["caption"], r["status"]) for r in first
    ]


def test_beams_keep_the_one_image_path(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the derived copies first (the step engine's derive check steps one row)
    captioner_module.Captioner.load(tiny)
    spy = Spy(monkeypatch)
    out = tmp_path / "beams.csv"
    code = cli_batch.main(
        [str(IMAGES_DIR), "--model", str(tiny), "--csv", str(out), "--no-isolate",
         "--max-tokens", "6", "--rows", "4", "--beams", "2"]
    )  # fmt: skip
    assert code == 0
    assert "rows.onnx" not in spy.opened and "own.onnx" not in spy.opened
    assert {g for g, _ in spy.steps} == {"step.onnx"}
    assert {n for _, n in spy.steps} == {2}  # the two beams of one image, never more


@pytest.mark.parametrize("value", ["0", str(MAX_ROWS + 1), "two"])
def test_rows_out_of_range_is_a_usage_error_naming_the_limit(value: str, capsys) -> None:
    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    cli_batch.add_parser(parser.add_subparsers(dest="command", required=True))
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["batch", "photos", "--rows", value])
    assert e.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("nanocaption-desktop batch: error: argument --rows: "), last
    assert repr(value) in last
    assert ("MAX_ROWS" in last) == (value == str(MAX_ROWS + 1))


@pytest.mark.parametrize("value", [0, MAX_ROWS + 1, 1.5, True])
def test_the_api_refuses_rows_out_of_range_before_any_work(value: object, tmp_path: Path) -> None:
    with pytest.raises(RequestError, match=r"rows must be"):
        list(caption_folder(IMAGES_DIR, csv=tmp_path / "o.csv", rows=value, captioner=object()))
    assert not (tmp_path / "o.csv").exists()


def test_the_spec_carries_rows_from_the_command_line_and_the_api(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="nanocaption-desktop")
    cli_batch.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["batch", str(tmp_path), "--rows", "3"])
    assert cli_batch.spec_from_args(args) == BatchSpec(str(tmp_path), rows=3, isolate=True)
    default = cli_batch.spec_from_args(parser.parse_args(["batch", str(tmp_path)]))
    assert default.rows == DEFAULT_ROWS == BatchSpec(str(tmp_path)).rows

"""`models verify` checks what a load would check, with or without a manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_paths import TINY_BUNDLE

from nanocaption_desktop import cli
from nanocaption_desktop.cli_models import cmd_verify


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, copy, ignore=shutil.ignore_patterns("optimized"))
    return copy


def test_a_sound_bundle_without_manifest_is_ok(bundle):
    code, text = cmd_verify(bundle)
    assert code == 0 and "the configs and tokenizer load" in text


@pytest.mark.parametrize("damage", ["missing", "garbage", "empty vocabulary"])
def test_a_bad_tokenizer_is_reported_without_a_manifest(bundle, damage):
    tok = bundle / "tokenizer.json"
    if damage == "missing":
        tok.unlink()
    elif damage == "garbage":
        tok.write_text('{"model": 7}')
    else:
        doc = json.loads(tok.read_text())
        doc["model"].update(vocab={}, merges=[])
        tok.write_text(json.dumps(doc))
    code, text = cmd_verify(bundle)
    assert code == 2 and str(tok) in text, text


def test_every_bad_file_is_reported(bundle):
    pre = bundle / "preprocessor_config.json"
    pre.write_text(pre.read_text().replace('"height": 224', '"height": 100000'))
    gen = bundle / "generation_config.json"
    gen.write_text(gen.read_text().replace('"max_length": 24', '"max_length": 0'))
    code, text = cmd_verify(bundle)
    assert code == 2 and "2 problem(s)" in text
    assert f"{pre}: size.height: 100000 is out of range" in text
    assert f"{gen}: max_length: 0 is out of range" in text


def test_unreadable_json_is_reported(bundle):
    (bundle / "config.json").write_text("{ nope")
    code, text = cmd_verify(bundle)
    assert code == 2 and "config.json: cannot read it as JSON" in text


@pytest.mark.parametrize("command", ["path", "verify"])
def test_model_is_accepted_before_and_after_the_subcommand(bundle, command, capsys):
    assert cli.main(["models", command, "--model", str(bundle)]) == 0
    after = capsys.readouterr().out
    assert cli.main(["--model", str(bundle), "models", command]) == 0
    assert capsys.readouterr().out == after and str(bundle) in after

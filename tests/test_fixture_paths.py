"""The tiny bundle's path is defined once (tests/fixture_paths.py); every test and script takes
it from there or from the `tiny_bundle` fixture."""

from __future__ import annotations

import re
from pathlib import Path

from fixture_paths import TINY_BUNDLE

TESTS = Path(__file__).resolve().parent
#: A path built to the bundle: `... / "tiny-vit-gpt2"` or "tests/fixtures/tiny-vit-gpt2".
PATH_TO_BUNDLE = re.compile(r"""/\s*["']tiny-vit-gpt2["']|fixtures/tiny-vit-gpt2["']""")


def test_the_tiny_bundle_path_is_defined_once():
    found = [
        f"{path.relative_to(TESTS)}:{n}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.name not in ("fixture_paths.py", Path(__file__).name)
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if PATH_TO_BUNDLE.search(line)
    ]
    assert found == []
    assert (TINY_BUNDLE / "config.json").is_file()


def test_the_check_sees_each_way_of_writing_the_path():
    for line in (
        'MODEL = ROOT / "tests" / "fixtures" / "tiny-vit-gpt2"',
        "TINY = FIXTURES / 'tiny-vit-gpt2'",
        'subprocess.run(["x", "tests/fixtures/tiny-vit-gpt2"])',
    ):
        assert PATH_TO_BUNDLE.search(line), line
    assert not PATH_TO_BUNDLE.search('assert out == "model: ready tiny-vit-gpt2"')

"""Where the test fixtures are: the one definition of the tiny bundle's path.

Every test directory can `from fixture_paths import TINY_BUNDLE` (pytest puts `tests/` on
`sys.path` for its conftest); scripts run on their own put it there themselves. Tests that take
fixtures use `tiny_bundle` (tests/conftest.py) instead.
"""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
#: The tiny random ViT-GPT2 bundle (packaging/make_test_model.py makes it).
TINY_BUNDLE = FIXTURES / "tiny-vit-gpt2"
IMAGES_DIR = FIXTURES / "images"
#: Reference captions and predictions for the images above (tests/fixtures/evaluate/README.md).
EVALUATE_DIR = FIXTURES / "evaluate"

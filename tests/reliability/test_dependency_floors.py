"""Issue 7 point 8: the installed decoder and runtime are versions the project supports.

Pillow >= 12.3 (earlier releases have decoder fixes we rely on, and ``Image.open(formats=...)``
with the AVIF plugin); onnxruntime >= 1.17, < 2. The test reads the floors from pyproject.toml
when it is there, so the test and the declared dependencies cannot drift apart.
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import PIL

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def release(text: str) -> tuple[int, ...]:
    """'12.3.0', '1.20.1', '13.0.0.dev0' -> (12, 3, 0): the numeric release part."""
    match = re.match(r"\d+(\.\d+)*", text)
    assert match, f"unparsable version {text!r}"
    return tuple(int(p) for p in match.group(0).split("."))


def declared(name: str) -> dict[str, tuple[int, ...]]:
    """The bounds pyproject.toml declares for ``name``: {">=": (12, 3)}; {} without a pyproject."""
    if not PYPROJECT.is_file():  # installed from a wheel: nothing to compare with
        return {}
    found = re.search(rf'"{re.escape(name)}\s*([^"]*)"', PYPROJECT.read_text(), re.IGNORECASE)
    assert found, f"pyproject.toml does not list {name}"
    return {op: release(v) for op, v in re.findall(r"(>=|<)\s*([\d.]+)", found.group(1))}


def test_release_parser() -> None:
    assert release("12.3.0") == (12, 3, 0)
    assert release("1.17") == (1, 17)
    assert release("13.0.0.dev0") == (13, 0, 0)
    assert release("1.20.1+cpu") == (1, 20, 1)


def test_pillow_floor() -> None:
    assert release(PIL.__version__) >= (12, 3), f"Pillow {PIL.__version__} < 12.3"
    assert release(version("Pillow")) == release(PIL.__version__)
    assert declared("Pillow").get(">=", (12, 3)) >= (12, 3), "pyproject lowers the Pillow floor"


def test_onnxruntime_range() -> None:
    import onnxruntime

    have = release(onnxruntime.__version__)
    assert (1, 17) <= have < (2,), f"onnxruntime {onnxruntime.__version__} outside >=1.17,<2"
    bounds = declared("onnxruntime")
    assert bounds.get(">=", (1, 17)) >= (1, 17) and bounds.get("<", (2,)) <= (2,), bounds

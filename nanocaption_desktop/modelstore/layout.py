"""Where a bundle keeps its graphs: the Hugging Face Optimum / transformers.js file layout.

A file-layout question answered without opening anything, so the locator (which folder is a
bundle) and the engine's `Bundle.open` (which graphs to load) ask the same function.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["OPTIMIZED", "find_onnx"]

OPTIMIZED = "optimized"  # where the engine keeps the derived copies of a bundle's graphs


def find_onnx(root: Path, stem: str, quantized: bool) -> Path | None:
    """`stem[_quantized].onnx` at the top of the bundle or under onnx/, preferred form first; for
    each form also a graph shipped as its derived copy alone (`optimized/<stem>/manifest.json`
    with `shipped_alone`, see engine/derive.py; the executable's bundle), then named where its
    stock graph would be."""
    names = [f"{stem}_quantized", stem]
    if not quantized:
        names.reverse()
    for name in names:
        for folder in (root / "onnx", root):
            if (folder / f"{name}.onnx").is_file():
                return folder / f"{name}.onnx"
        if _shipped_alone(root / OPTIMIZED / name / "manifest.json"):
            return root / "onnx" / f"{name}.onnx"
    return None


def _shipped_alone(manifest: Path) -> bool:
    """Whether a derived copy's manifest says its bundle ships it without the stock graph (set
    by packaging/build.py); a stock graph merely missing beside a derived copy is not that."""
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("shipped_alone") is True
    except (OSError, ValueError, AttributeError):
        return False

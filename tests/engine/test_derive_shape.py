"""The derive wing's shape (engine/derive/): small modules and functions, helpers shared in the
open (no module reaches for another's `_private` name), one vocabulary, and no `onnx` needed to
use a derived copy, only to make one."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nanocaption_desktop.engine.derive import infer

WING = Path(__file__).resolve().parents[2] / "nanocaption_desktop" / "engine" / "derive"
MODULES = sorted(WING.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def test_the_wing_is_a_package_of_small_modules():
    assert len(MODULES) >= 10
    for path in MODULES:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.name}: {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_function_in_the_wing_is_over_80_lines(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            assert length <= 80, f"{path.name}:{node.lineno} {node.name}: {length} lines"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_no_module_imports_another_modules_private_names(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"{path.name}:{node.lineno} imports {private} from {node.module}"
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                assert node.value.id in ("self", "cls"), (
                    f"{path.name}:{node.lineno} reads {node.value.id}.{node.attr}"
                )


#: the words the wing once used for "derived copy", "cross graph" and "step graph"
OLD_WORDS = re.compile(r"optimi[sz]|hoist|(?<!flatten_)pairs?\b|cross_?step", re.IGNORECASE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_the_wing_names_things_in_one_vocabulary(path):
    """Identifiers defined in the wing say "derived copy", "cross graph", "step graph" (the
    on-disk `optimized/` folder and the manifest keys keep their names)."""
    names = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append((node.lineno, node.name))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append((node.lineno, node.id))
        elif isinstance(node, ast.arg):
            names.append((node.lineno, node.arg))
    old = [(line, name) for line, name in names if OLD_WORDS.search(name)]
    assert not old, f"{path.name}: {old}"


def test_every_op_the_old_inference_knew_has_a_handler():
    known_before = (
        "Constant Identity Cast CastLike Shape Size Gather Unsqueeze Squeeze Concat Slice Add "
        "Sub Mul Div Equal Less Greater LessOrEqual GreaterOrEqual And Or Where Pow Max Min Sqrt "
        "Tanh Erf Neg Relu Sigmoid Softmax Exp Log Abs Reciprocal IsNaN IsInf Not Gelu FastGelu "
        "LayerNormalization DequantizeLinear QuantizeLinear DynamicQuantizeLinear MatMul "
        "MatMulInteger Transpose Reshape Split Expand ConstantOfShape Range"
    ).split()
    assert sorted(set(known_before) - set(infer.HANDLERS)) == []


def test_using_a_derived_copy_needs_no_onnx():
    """The engine and the wing's entry points load without the `onnx` package (the executable
    ships without it); only making a copy imports it."""
    code = (
        "import sys\n"
        "import nanocaption_desktop.engine.captioner\n"
        "from nanocaption_desktop.engine.derive import derived_decoder, verify_copies\n"
        "print(sorted(m for m in sys.modules if m == 'onnx' or m.startswith('onnx.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"

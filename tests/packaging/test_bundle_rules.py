"""What the executable may contain (packaging/bundle_rules.py): no build needed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "packaging"))

from bundle_rules import EXCLUDES, forbidden_in, keep_collected, orphans  # noqa: E402


def test_dev_only_packages_are_found_as_modules_and_files() -> None:
    names = [
        "torch.nn.functional",
        "transformers",
        "optimum.onnxruntime",
        "onnx/onnx_cpp2py_export.cpython-311-x86_64-linux-gnu.so",
        "torch/lib/libtorch_cpu.so",
        "onnxruntime.capi._pybind_state",
        "onnxruntime/capi/libonnxruntime.so.1",
        "numpy",
        "PySide6/Qt/lib/libQt6Core.so.6",
        "nanocaption_desktop.engine.derive.cross_graph",
    ]
    assert forbidden_in(names) == ["onnx", "optimum", "torch", "transformers"]


def test_gpl_heif_builds_are_found_and_the_lgpl_decoder_is_allowed() -> None:
    """pillow-heif's wheels bundle x265 (GPL-2.0); pi-heif is decode-only (LGPL-3.0 libs)."""
    gpl = ["pillow_heif.libs/libx265-4883ecb5.so.217", "libx265-4883ecb5.so.217", "pillow_heif"]
    assert forbidden_in(gpl) == ["pillow_heif", "x265"]
    lgpl = ["pi_heif", "pi_heif.libs/libheif-7a3e919c.so.1.23.0", "libde265-90fb0ce1.so.0.2.0"]
    assert forbidden_in(lgpl) == []


def test_the_apps_own_stack_is_allowed() -> None:
    assert (
        forbidden_in(
            [
                "onnxruntime",
                "onnxruntime.capi",
                "PIL.Image",
                "tokenizers",
                "numpy._core",
                "platformdirs",
                "PySide6.QtWidgets",
            ]
        )
        == []
    )


def test_excludes_cover_the_forbidden_and_unused_qt() -> None:
    for name in (
        "torch",
        "transformers",
        "optimum",
        "onnx",
        "PySide6.QtQml",
        "PySide6.QtWebEngineCore",
        "PySide6.Qt3DCore",
        "PySide6.QtMultimedia",
        "pycocoevalcap",
    ):
        assert name in EXCLUDES
    for name in ("onnxruntime", "PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PIL"):
        assert name not in EXCLUDES


@pytest.mark.parametrize(
    "dest, kept",
    [
        ("PySide6/Qt/translations/qtbase_de.qm", False),
        ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so", False),
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("PySide6/Qt/plugins/platforms/libqeglfs.so", False),
        ("PySide6/Qt/lib/libQt6Quick.so.6", False),
        ("PySide6\\Qt6Qml.dll", False),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("PySide6/Qt/plugins/platforms/libqoffscreen.so", True),
        ("PySide6/Qt/plugins/platforms/libqwayland.so", True),
        ("PySide6\\plugins\\platforms\\qwindows.dll", True),
        ("PySide6/Qt/plugins/imageformats/libqjpeg.so", True),
        ("PySide6/Qt/lib/libQt6Widgets.so.6", True),
        ("PySide6/Qt/lib/libQt6DBus.so.6", True),
        ("models/vit-gpt2/onnx/encoder_model_quantized.onnx", True),
    ],
)
def test_keep_collected(dest: str, kept: bool) -> None:
    assert keep_collected(dest) is kept


def test_orphans_are_libraries_only_dropped_files_need() -> None:
    links = {
        "gtk3.so": ["libgtk.so", "libQt6Gui.so", "libglib.so"],
        "libgtk.so": ["libcairo.so", "libglib.so"],
        "QtGui.so": ["libQt6Gui.so"],
        "libQt6Gui.so": ["libglib.so"],
        "libcairo.so": [],
        "libglib.so": [],
    }

    def imports(src: str) -> list[tuple[str, str | None]]:
        return [(name, f"/usr/lib/{name}") for name in links[src]]

    kept = {
        f"lib/{n}": n
        for n in ("libgtk.so", "libcairo.so", "libglib.so", "libQt6Gui.so", "QtGui.so")
    }
    assert orphans(kept, {"plugins/gtk3.so": "gtk3.so"}, imports) == {
        "lib/libgtk.so",
        "lib/libcairo.so",
    }

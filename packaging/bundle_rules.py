"""What goes into the executable and what stays out: shared by the spec and build.py.

Only the standard library here: the spec imports this module inside PyInstaller, build.py before
it starts PyInstaller, and the smoke test without either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Dev-only stacks (the `export` extra and friends). The build fails if any of them would be
# collected: they are huge, and the app must not depend on them at run time (DESIGN.md).
FORBIDDEN = (
    "torch",
    "torchvision",
    "torchaudio",
    "transformers",
    "optimum",
    "onnx",
    "onnxconverter_common",
    "onnxscript",
    "tensorflow",
    "jax",
    "safetensors",
    "accelerate",
    "huggingface_hub",
    # the `evaluate` extra: pycocoevalcap ships GPL/AGPL Java jars, which never go inside the
    # executable (the app is Apache-2.0); `evaluate` runs from a pip install only
    "pycocoevalcap",
    "pycocotools",
    "nltk",
    # GPL code must not be inside the Apache-2.0 executable: pillow-heif's wheels bundle x265
    # (GPL-2.0); HEIC is read with pi-heif (decode-only libheif + libde265, LGPL-3.0)
    "pillow_heif",
    "x265",
)

# Python packages the app never imports; keeping them out also keeps their hooks from adding data.
# Optional imports of our own (onnxrefs reads ONNX with `onnx` when present) fall back cleanly.
_UNUSED_PY = (
    "tkinter",
    "_tkinter",
    "matplotlib",
    "scipy",
    "pandas",
    "sympy",
    "IPython",
    "jedi",
    "pytest",
    "_pytest",
    "hypothesis",
    "pytestqt",
    "psutil",
    "setuptools",
    "pkg_resources",
    "pip",
    "wheel",
    "distutils",
    "lib2to3",
    "pydoc_data",
    "unittest",
    "test",
    "mypy",
    "ruff",
    "black",
    "coloredlogs",
    "humanfriendly",
    "flatbuffers",
    "mpmath",
    "PIL.ImageQt",
    "PIL.ImageTk",
    "numpy.f2py",
    "numpy.distutils",
    "numpy.testing",
    "yaml",  # numpy.__config__ only, for show_config()
)

# PySide6: the app uses QtCore, QtGui and QtWidgets only.
QT_UNUSED_MODULES = (
    "Qt3DAnimation",
    "Qt3DCore",
    "Qt3DExtras",
    "Qt3DInput",
    "Qt3DLogic",
    "Qt3DRender",
    "QtBluetooth",
    "QtCharts",
    "QtConcurrent",
    "QtDataVisualization",
    "QtDBus",
    "QtDesigner",
    "QtGraphs",
    "QtGraphsWidgets",
    "QtHelp",
    "QtHttpServer",
    "QtLabsStyleKit",
    "QtLocation",
    "QtMultimedia",
    "QtMultimediaWidgets",
    # QtNetwork stays: QLocalServer/QLocalSocket hand a second launch's files to the window
    "QtNetworkAuth",
    "QtNfc",
    "QtOpenGL",
    "QtOpenGLWidgets",
    "QtPdf",
    "QtPdfWidgets",
    "QtPositioning",
    "QtPrintSupport",
    "QtQml",
    "QtQmlFeatures",
    "QtQuick",
    "QtQuick3D",
    "QtQuickControls2",
    "QtQuickTest",
    "QtQuickWidgets",
    "QtRemoteObjects",
    "QtScxml",
    "QtSensors",
    "QtSerialBus",
    "QtSerialPort",
    "QtSpatialAudio",
    "QtSql",
    "QtStateMachine",
    "QtSvg",
    "QtSvgWidgets",
    "QtTest",
    "QtTextToSpeech",
    "QtUiTools",
    "QtWebChannel",
    "QtWebEngineCore",
    "QtWebEngineQuick",
    "QtWebEngineWidgets",
    "QtWebSockets",
    "QtWebView",
    "QtXml",
)

EXCLUDES = FORBIDDEN + _UNUSED_PY + tuple(f"PySide6.{m}" for m in QT_UNUSED_MODULES)

# Collected files (binaries and data, by their path inside the archive) that we drop: Qt's
# translations (the app's text is English only), Qt plugins that drag in QML/Quick, the virtual
# keyboard, Wayland compositor support or PDF/SVG stacks, and Qt libraries only those need.
_DROP = [
    re.compile(p)
    for p in (
        r"^PySide6/Qt/translations/",
        r"^PySide6/Qt/qml/",
        r"^PySide6/Qt/plugins/(qmltooling|qmllint|qmlls|designer|sqldrivers|multimedia|"
        r"sceneparsers|renderers|renderplugins|geometryloaders|assetimporters|texttospeech|"
        r"position|geoservices|sensors|canbus|webview|scenegraph|tls|networkinformation)/",
        r"^PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin",
        # embedded-device back ends (no window system) and GTK's theme plugin, which needs the
        # host's GTK 3 and would drag in a private copy of cairo/pango/glib that must match it
        r"^PySide6/Qt/plugins/(egldeviceintegrations|generic)/",
        r"^PySide6/Qt/plugins/platforms/lib(qeglfs|qlinuxfb|qvnc|qvkkhrdisplay|qminimalegl)\.so$",
        r"^PySide6/Qt/plugins/platformthemes/libqgtk3\.so$",
        r"^PySide6/Qt/plugins/imageformats/(libqpdf|qpdf)",
        r"^PySide6/Qt/plugins/imageformats/(libqsvg|qsvg)",
        r"^PySide6/Qt/plugins/iconengines/(libqsvgicon|qsvgicon)",
        r"(^|/)(lib)?Qt6(Qml|Quick|VirtualKeyboard|Pdf|Svg|NetworkAuth|OpenGL|Sql|Test|Multimedia|"
        r"Designer|3D|WebEngine|Charts|Graphs|Positioning|Location|Sensors|TextToSpeech)[A-Za-z]*"
        r"(\.so[.0-9]*|\.dll|\.dylib|\.framework/.*)$",
    )
]


def keep_collected(dest: str) -> bool:
    """False for a collected binary or data file (archive path) that the app does not need."""
    dest = dest.replace("\\", "/")
    return not any(p.search(dest) for p in _DROP)


def orphans(kept: dict[str, str], dropped: dict[str, str], imports) -> set[str]:
    """Collected libraries that only dropped files need (archive names, to drop as well).

    ``kept``/``dropped`` map archive names to source files; ``imports(src)`` gives the libraries a
    binary links to as ``(name, path or None)`` (PyInstaller's ``bindepend.get_imports``). A library
    any kept binary needs, directly or not, stays.
    """
    by_base: dict[str, str] = {}
    for dest in kept:
        by_base.setdefault(dest.replace("\\", "/").rsplit("/", 1)[-1].lower(), dest)

    def closure(roots: dict[str, str]) -> set[str]:
        seen: set[str] = set()
        todo = list(roots.values())
        while todo:
            src = todo.pop()
            try:
                libs = imports(src)
            except Exception:  # not a binary (a data file collected as BINARY): no imports
                continue
            for name, path in libs:
                base = str(path or name).replace("\\", "/").rsplit("/", 1)[-1].lower()
                dest = by_base.get(base)
                if dest is not None and dest not in seen:
                    seen.add(dest)
                    todo.append(kept[dest])
        return seen

    libs_of_dropped = closure(dropped)
    needed = closure({d: s for d, s in kept.items() if d not in libs_of_dropped})
    return {d for d in libs_of_dropped if d not in needed}


def _top_name(entry: str) -> str:
    entry = entry.replace("\\", "/")
    first = entry.split("/", 1)[0] if "/" in entry else entry.split(".", 1)[0]
    return first.split(".", 1)[0]


def forbidden_in(names: Iterable[str]) -> list[str]:
    """The forbidden top-level packages among module names or archive paths (sorted, unique).

    ``onnx`` is matched as a whole name: ``onnxruntime`` is the app's engine and stays.
    """
    hits = set()
    for name in names:
        top = _top_name(name)
        for bad in FORBIDDEN:
            if top == bad or top.startswith(f"lib{bad}") or top == f"{bad}.libs":
                hits.add(bad)
    return sorted(hits)

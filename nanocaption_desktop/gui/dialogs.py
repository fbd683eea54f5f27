"""About, Keyboard Shortcuts and Settings dialogs."""

from __future__ import annotations

import platform
import sys

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..ground.version import __version__

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Ctrl+O", "Open image files"),
    ("Ctrl+Shift+O", "Caption a folder (batch)"),
    ("Ctrl+V", "Paste an image or copied files"),
    ("Ctrl+Shift+C", "Copy the caption (of the Caption page, or the Review page's image)"),
    ("Ctrl+C", "Copy the caption (in the caption box, with nothing selected)"),
    ("Ctrl+R", "Regenerate the caption (the Caption page's, or the Review page's image)"),
    ("Ctrl+1 / Ctrl+2 / Ctrl+3", "Show the Caption / Batch / Review page"),
    ("Ctrl+B", "Start the batch"),
    ("Esc", "Cancel running work (the batch, captions asked for on the Review page)"),
    ("Up / Down / PgUp / PgDown", "Review: move between images (also from the caption editor)"),
    ("F2", "Review: edit the caption (the editor, all text selected)"),
    ("Ctrl+Return", "Review: approve, and go to the next image not approved"),
    ("F8", "Review: go to the next flagged image (weak, changed or failed)"),
    (
        "Ctrl+S",
        "Caption page: save its caption into the photo as alt text. Batch and Review pages: "
        "write the approved captions (to the target in Settings)",
    ),
    ("Ctrl+Z / Ctrl+Shift+Z", "Review: undo / redo (typing, regenerate, picks, bulk edits)"),
    ("Ctrl+E", "Export the history"),
    ("Ctrl+,", "Settings"),
    ("F1", "This list"),
    ("Tab / Shift+Tab", "Move between controls"),
    ("Alt+underlined letter", "Jump to a control"),
    ("Ctrl+Q", "Quit"),
)


def _version(dist: str) -> str:
    from importlib import metadata  # only when the About box opens: ~50 ms at start-up

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_text(model_name: str, model_path: str) -> str:
    model = f"{model_name} ({model_path})" if model_name else "none loaded"
    rows = [
        ("NanoCaption Desktop", __version__),
        ("Model", model),
        ("Python", f"{platform.python_version()} ({sys.platform})"),
        ("Qt / PySide6", f"{qVersion()} / {pyside_version}"),
        ("onnxruntime", _version("onnxruntime")),
        ("numpy", _version("numpy")),
        ("Pillow", _version("pillow")),
        ("tokenizers", _version("tokenizers")),
    ]
    return "\n".join(f"{k}: {v}" for k, v in rows)


class AboutDialog(QDialog):
    def __init__(self, model_name: str, model_path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About NanoCaption Desktop")
        self.setAccessibleName("About NanoCaption Desktop")
        layout = QVBoxLayout(self)
        intro = QLabel(
            "<b>NanoCaption Desktop</b><br>Offline image captions on a plain CPU. "
            "Your images never leave this computer.<br>Default model: "
            "nlpconnect/vit-gpt2-image-captioning (Apache-2.0)."
        )
        intro.setWordWrap(True)
        self.details = QLabel(about_text(model_name, model_path))
        self.details.setAccessibleName("Versions")
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        layout.addWidget(intro)
        layout.addWidget(self.details)
        layout.addWidget(buttons)


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(520, 460)
        layout = QVBoxLayout(self)
        table = QTableWidget(len(SHORTCUTS), 2)
        table.setAccessibleName("Keyboard shortcuts")
        table.setToolTip("Every shortcut in the app")
        table.setHorizontalHeaderLabels(["Keys", "Action"])
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, (keys, action) in enumerate(SHORTCUTS):
            table.setItem(row, 0, QTableWidgetItem(keys))
            table.setItem(row, 1, QTableWidgetItem(action))
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        table.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        layout.addWidget(table)
        layout.addWidget(buttons)


#: the choices of ``review/write_to`` (``settings.WRITE_CHOICES``), in a person's words
WRITE_TARGETS = (
    ("alt-text", "Alt text in the photo"),
    ("sidecar", "A .txt file beside each photo"),
    ("csv", "captions.csv in the folder"),
    ("jsonl", "captions.jsonl in the folder"),
)


class SettingsDialog(QDialog):
    """The model bundle folder, the appearance, the largest image to read, and where Ctrl+S
    writes the approved captions on the Review and Batch pages (``review/write_to``)."""

    def __init__(
        self,
        model_folder: str,
        appearance: str,
        parent: QWidget | None = None,
        *,
        max_megapixels: int = 100,
        write_to: str = "alt-text",
        cleanup: tuple[bool, bool, str] = (True, False, "{caption}"),
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.resize(560, 160)
        form = QFormLayout(self)
        self.folder = QLineEdit(model_folder)
        self.folder.setPlaceholderText("Automatic: the installed model")
        self.folder.setAccessibleName("Model folder")
        self.folder.setToolTip(
            "An installed model's name (models list) or a model bundle folder; leave empty to "
            "use the default model (models use)"
        )
        browse = QPushButton("&Browse…")
        browse.setAccessibleName("Browse for model folder")
        browse.setToolTip("Choose a folder holding a model bundle")
        browse.clicked.connect(self._browse)
        reset = QPushButton("&Automatic")
        reset.setAccessibleName("Use the installed model")
        reset.setToolTip("Forget the chosen folder and use the installed model")
        reset.clicked.connect(self.folder.clear)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        row.addWidget(reset)
        folder_label = QLabel("&Model folder:")
        folder_label.setBuddy(self.folder)
        form.addRow(folder_label, row)
        self.appearance = QComboBox()
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            self.appearance.addItem(label, key)
        self.appearance.setCurrentIndex(max(0, self.appearance.findData(appearance)))
        self.appearance.setAccessibleName("Appearance")
        self.appearance.view().setAccessibleName("Appearances")
        self.appearance.setToolTip("Light or dark colours, or whatever the desktop uses")
        look_label = QLabel("A&ppearance:")
        look_label.setBuddy(self.appearance)
        form.addRow(look_label, self.appearance)
        self.megapixels = QSpinBox()
        self.megapixels.setRange(1, 1000)
        self.megapixels.setSuffix(" megapixels")
        self.megapixels.setValue(max_megapixels)
        self.megapixels.setAccessibleName("Largest image to read")
        self.megapixels.setToolTip(
            "Larger images are refused (a guard against decompression bombs); a large JPEG "
            "is read at a reduced scale and counts at that size"
        )
        size_label = QLabel("&Largest image:")
        size_label.setBuddy(self.megapixels)
        form.addRow(size_label, self.megapixels)
        self.write_to = QComboBox()
        for key, label in WRITE_TARGETS:
            self.write_to.addItem(label, key)
        self.write_to.setCurrentIndex(max(0, self.write_to.findData(write_to)))
        self.write_to.setAccessibleName("Write approved captions to")
        self.write_to.view().setAccessibleName("Places to write approved captions")
        self.write_to.setToolTip(
            "Where Ctrl+S writes the approved captions on the Review and Batch pages"
        )
        write_label = QLabel("&Write approved to:")
        write_label.setBuddy(self.write_to)
        form.addRow(write_label, self.write_to)
        self._add_cleanup(form, *cleanup)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setAccessibleName("OK")
        buttons.button(QDialogButtonBox.StandardButton.Cancel).setAccessibleName("Cancel")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _add_cleanup(self, form: QFormLayout, enabled: bool, period: bool, template: str) -> None:
        """Cleanup of new model captions on the Review page (review/cleanup.py; the model's own
        text is always kept and the page shows the difference)."""
        self.cleanup = QCheckBox("&Clean up new model captions (capital letter, spaces, repeats)")
        self.cleanup.setChecked(enabled)
        self.cleanup.setAccessibleName("Clean up new model captions")
        self.period = QCheckBox("End each caption with a full &stop")
        self.period.setChecked(period)
        self.period.setAccessibleName("End each caption with a full stop")
        self.template = QLineEdit(template)
        self.template.setAccessibleName("Caption template")
        self.template.setToolTip(
            "For datasets: text around every caption, with {caption} where it goes, "
            "e.g. 'photo of {caption}, high quality'"
        )
        self.cleanup.toggled.connect(self.period.setEnabled)
        self.cleanup.toggled.connect(self.template.setEnabled)
        self.period.setEnabled(enabled)
        self.template.setEnabled(enabled)
        form.addRow(self.cleanup)
        form.addRow(self.period)
        template_label = QLabel("&Template:")
        template_label.setBuddy(self.template)
        form.addRow(template_label, self.template)

    def accept(self) -> None:
        if self.template.text().count("{caption}") != 1:
            QMessageBox.warning(
                self, "Settings", "The template must hold {caption} once, where the caption goes."
            )
            self.template.setFocus()
            return
        super().accept()

    def chosen_cleanup(self) -> tuple[bool, bool, str]:
        return self.cleanup.isChecked(), self.period.isChecked(), self.template.text()

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def chosen_folder(self) -> str:
        return self.folder.text().strip()

    def chosen_appearance(self) -> str:
        return str(self.appearance.currentData())

    def chosen_max_megapixels(self) -> int:
        return int(self.megapixels.value())

    def chosen_write_to(self) -> str:
        return str(self.write_to.currentData())

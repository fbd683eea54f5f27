"""The status bar's model picker: the installed models (name, size, quantization, source)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QLabel, QWidget

from ..modelstore.installed import InstalledModel, list_models

OTHER = ""  # item data of the entry for a model loaded from a folder that is not installed


def describe(m: InstalledModel) -> str:
    return f"{m.name} ({m.size / 1e6:.0f} MB, {m.quantization})"


class ModelPicker(QComboBox):
    """Lists the installed models; choosing one emits ``chosen(name)``."""

    chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName("Model")
        self.view().setAccessibleName("Installed models")  # its popup list (AT-SPI checker)
        # A visible label that names the box (screen readers on Linux announce a combo box by its
        # value and take its name from the buddy label); shown and hidden with the box.
        self.label = QLabel("Model:")
        self.label.setBuddy(self)
        self.label.setVisible(False)
        self.setToolTip("The captioning model: pick an installed one (models import adds yours)")
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.models: list[InstalledModel] = []
        self.activated.connect(self._activated)
        self.setVisible(False)

    def refresh(self, current: Path | None) -> None:
        """Read the installed models again and select the one at ``current``."""
        self.models = list_models()
        self.blockSignals(True)
        self.clear()
        selected = -1
        for m in self.models:
            self.addItem(describe(m), m.name)
            tip = f"{m.name}: {m.size / 1e6:.1f} MB, {m.quantization}, {m.source}\n{m.path}"
            self.setItemData(self.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
            if current is not None and m.path.resolve() == current.resolve():
                selected = self.count() - 1
        if selected < 0 and current is not None:
            self.addItem(f"{current.name} (folder)", OTHER)
            self.setItemData(self.count() - 1, str(current), Qt.ItemDataRole.ToolTipRole)
            selected = self.count() - 1
        self.setCurrentIndex(selected)
        self.blockSignals(False)
        self.setVisible(self.count() > 1)  # a choice to make only with two or more
        self.label.setVisible(self.count() > 1)

    def _activated(self, index: int) -> None:
        name = self.itemData(index)
        if name:
            self.chosen.emit(str(name))

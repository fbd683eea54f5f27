"""The caption: large editable text, Copy, a brief "Copied", timing, score, length hint, options."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFont, QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .history import EMPTY_CAPTION
from .widgets import LiveLabel

ALT_TEXT_LIMIT = 125  # characters: longer alt text gets cut or skimmed by screen readers
#: the longest caption the length box offers (a model with fewer positions lowers it)
MAX_LENGTH_SHOWN = 128


class CaptionEdit(QPlainTextEdit):
    """Ctrl+C with nothing selected copies the whole caption. Sized for a caption, not a page:
    four lines by default (a long alt text), the history below takes the rest of the height."""

    copy_all = Signal()
    LINES = 4

    def _lines_height(self, lines: int) -> int:
        margins = self.contentsMargins()
        frame = margins.top() + margins.bottom() + 2 * int(self.document().documentMargin())
        return self.fontMetrics().lineSpacing() * lines + frame + 4

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(super().sizeHint().width(), self._lines_height(self.LINES))

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(super().minimumSizeHint().width(), self._lines_height(2))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.matches(QKeySequence.StandardKey.Copy) and not self.textCursor().hasSelection():
            self.copy_all.emit()
            return
        super().keyPressEvent(event)


class CaptionPanel(QWidget):
    copied = Signal(str)
    regenerate_requested = Signal()
    options_changed = Signal(int, int)  # beams, max new tokens; 0 = the model's default
    auto_copy_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self._layout = layout
        # top to bottom, each part made and placed in turn (Qt's tab order follows it)
        layout.addWidget(self._build_status())
        layout.addWidget(self._build_edit(), 1)
        layout.addLayout(self._build_info())
        layout.addLayout(self._build_buttons())
        layout.addLayout(self._build_options())
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.beams.valueChanged.connect(self._emit_options)
        self.max_tokens.valueChanged.connect(self._emit_options)
        self._copied_timer = QTimer(self)
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(1600)
        self._copied_timer.timeout.connect(lambda: self.copied_label.setText(""))
        self._mode_changed()
        self._update_count()

    def _build_status(self) -> LiveLabel:
        self.status = LiveLabel("Caption status")
        self.status.setObjectName("captionStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return self.status

    def _build_edit(self) -> CaptionEdit:
        self.edit = CaptionEdit()
        self.edit.setObjectName("captionText")
        font = QFont(self.edit.font())
        font.setPointSizeF(max(15.0, font.pointSizeF() * 1.5))
        self.edit.setFont(font)
        self.edit.setPlaceholderText("The caption will appear here.")
        self.edit.setTabChangesFocus(True)
        self.edit.setAccessibleName("Caption")
        self.edit.setToolTip("The caption: select, edit, or copy it (Ctrl+C copies all of it)")
        self.edit.copy_all.connect(self.copy_caption)
        self.edit.textChanged.connect(self._update_count)
        return self.edit

    def _build_info(self) -> QHBoxLayout:
        info = QHBoxLayout()
        self.count = LiveLabel("Character count")
        self.count.setToolTip(f"Good alt text stays under about {ALT_TEXT_LIMIT} characters")
        self.stats = LiveLabel("Time and score")
        self.stats.setToolTip("Time the caption took, and the model's score (higher is surer)")
        self.copied_label = LiveLabel("Copy confirmation")
        self.copied_label.setObjectName("copiedLabel")
        info.addWidget(self.count)
        info.addStretch(1)
        info.addWidget(self.stats)
        return info

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self._buttons = buttons
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setAccessibleName("Copy caption")
        self.copy_button.setToolTip("Copy the caption to the clipboard (Ctrl+Shift+C)")
        self.copy_button.clicked.connect(self.copy_caption)
        self.auto_copy = QCheckBox("Auto-copy new captions")
        self.auto_copy.setAccessibleName("Auto-copy new captions")
        self.auto_copy.setToolTip("Put every new caption on the clipboard as soon as it is ready")
        self.auto_copy.toggled.connect(self.auto_copy_changed)
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.copied_label)
        buttons.addStretch(1)
        buttons.addWidget(self.auto_copy)
        return buttons

    def _build_options(self) -> QFormLayout:
        options = QFormLayout()
        options.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.mode = QComboBox()
        self.mode.addItems(["Model default", "Greedy (fastest)", "Beam search"])
        self.mode.setAccessibleName("Search mode")
        # Qt reports a combo box's current item as its name: say what the box is in the description
        self.mode.setAccessibleDescription(
            "Search mode: the model's default, greedy (fastest), or beam search"
        )
        self.mode.view().setAccessibleName("Search modes")
        self.mode.setToolTip(
            "The model's own setting; greedy (fastest); or beam search, which weighs several "
            "candidate captions"
        )
        self.beams = QSpinBox()
        self.beams.setRange(2, 8)
        self.beams.setValue(3)
        self.beams.setSuffix(" beams")
        keep_place = self.beams.sizePolicy()
        keep_place.setRetainSizeWhenHidden(True)
        self.beams.setSizePolicy(keep_place)
        self.beams.setAccessibleName("Number of beams")
        self.beams.setToolTip("How many candidate captions beam search keeps (2–8)")
        self.max_tokens = QSpinBox()
        self.max_tokens.setRange(3, MAX_LENGTH_SHOWN)
        self.max_tokens.setSpecialValueText("Model default")
        self.max_tokens.setValue(3)
        self.max_tokens.setSuffix(" tokens")
        self.max_tokens.setAccessibleName("Maximum length")
        self.max_tokens.setToolTip(
            "The longest caption to generate, in tokens (about ¾ word each); lowest: the model's"
            " own setting"
        )
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.mode)
        mode_row.addWidget(self.beams)
        search_label = QLabel("&Search:")
        search_label.setBuddy(self.mode)
        length_label = QLabel("&Max length:")
        length_label.setBuddy(self.max_tokens)
        options.addRow(search_label, mode_row)
        options.addRow(length_label, self.max_tokens)
        self.regenerate = QPushButton("&Regenerate")
        self.regenerate.setAccessibleName("Regenerate caption")
        self.regenerate.setToolTip("Caption the same image again with these options (Ctrl+R)")
        self.regenerate.clicked.connect(self._emit_regenerate)
        options.addRow("", self.regenerate)
        return options

    def add_note(self, widget: QWidget) -> None:
        """A line under the status (``metadata_controller``: what the photo already says)."""
        self._layout.insertWidget(1, widget)

    def add_button(self, button: QWidget) -> None:
        """A button right after Copy, next in the tab order (``metadata_controller``: Save)."""
        self._buttons.insertWidget(1, button)
        QWidget.setTabOrder(self.copy_button, button)

    # ---------------------------------------------------------------- options
    def set_token_limit(self, most: int | None) -> None:
        """The longest caption the loaded model can make: the length box goes no further (a
        request past the model's positions is refused by the engine)."""
        self.max_tokens.setMaximum(max(4, min(MAX_LENGTH_SHOWN, most or MAX_LENGTH_SHOWN)))

    def set_options(self, beams: int, max_new_tokens: int) -> None:
        """``beams``: 0 the model's default, 1 greedy, more: beam search. ``max_new_tokens``: 0
        the model's default."""
        self.mode.setCurrentIndex(0 if beams <= 0 else 1 if beams == 1 else 2)
        if beams > 1:
            self.beams.setValue(beams)
        self.max_tokens.setValue(max_new_tokens if max_new_tokens >= 4 else 3)
        self._mode_changed()

    def chosen_beams(self) -> int | None:
        return (None, 1, self.beams.value())[self.mode.currentIndex()]

    def chosen_max_tokens(self) -> int | None:
        value = self.max_tokens.value()
        return None if value == self.max_tokens.minimum() else value

    def _mode_changed(self) -> None:
        # only beam search has a beam count: a greyed "3 beams" next to "Model default" read
        # as if the model's default were 3 beams (its place is kept, so nothing moves)
        beam_search = self.mode.currentIndex() == 2
        self.beams.setEnabled(beam_search)
        self.beams.setVisible(beam_search)
        self._emit_options()

    def _emit_options(self) -> None:
        self.options_changed.emit(self.chosen_beams() or 0, self.chosen_max_tokens() or 0)

    def _emit_regenerate(self) -> None:
        self.regenerate_requested.emit()

    # ---------------------------------------------------------------- caption
    def text(self) -> str:
        return self.edit.toPlainText()

    def set_busy(self, message: str) -> None:
        self.status.setText(message)

    def show_caption(self, text: str, seconds: float, score: float | None) -> None:
        self.edit.setPlainText(text)
        score_text = f" · score {score:.2f}" if score is not None else ""
        self.stats.setText(f"{seconds:.2f} s{score_text}")
        self.status.setText("" if text.strip() else EMPTY_CAPTION)

    def show_error(self, message: str) -> None:
        self.edit.setPlainText("")
        self.stats.setText("")
        self.status.setText(message)

    def clear(self) -> None:
        self.edit.setPlainText("")
        self.stats.setText("")
        self.status.setText("")

    def copy_caption(self) -> bool:
        text = self.text().strip()
        if not text:  # Ctrl+Shift+C or the menu with no caption: a notice, not a success
            self.flash("Nothing to copy yet", notice=True)
            return False
        QGuiApplication.clipboard().setText(text)
        self.flash("Copied ✓")
        self.copied.emit(text)
        return True

    def flash(self, message: str, *, notice: bool = False) -> None:
        if bool(self.copied_label.property("notice")) != notice:
            self.copied_label.setProperty("notice", notice)
            self.copied_label.style().unpolish(self.copied_label)
            self.copied_label.style().polish(self.copied_label)
        self.copied_label.setText(message)
        self.copied_label.setAccessibleDescription(message)
        self._copied_timer.start()

    def _update_count(self) -> None:
        n = len(self.text())
        self.copy_button.setEnabled(bool(self.text().strip()))  # nothing to copy: greyed
        if n > ALT_TEXT_LIMIT:
            self.count.setText(f"{n} characters — long for alt text (~{ALT_TEXT_LIMIT})")
            self.count.setProperty("warning", True)
        else:
            self.count.setText(f"{n} characters" if n else "")
            self.count.setProperty("warning", False)
        self.count.style().unpolish(self.count)
        self.count.style().polish(self.count)

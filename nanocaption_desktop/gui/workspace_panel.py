"""The review page: the workspace's table (filter, search, sort) and the caption editor.

Widgets only; ``workspace_controller.py`` owns what they show and what they do.
"""

from __future__ import annotations

import difflib
import html
from typing import Any

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .widgets import LiveLabel
from .workspace_model import (
    STATES,
    THUMB,
    WorkspaceFilter,
    WorkspaceModel,
    accessible_state,
    badge_text,
    state_of,
)

FILTERS = (("All images", ""), ("Flagged for review", "flagged")) + tuple(
    (state.capitalize(), state) for state in STATES
)


def word_diff(old: str, new: str) -> str:
    """``old`` → ``new`` word by word as HTML: removed words struck through, added ones
    underlined (shape, not colour alone), everything escaped."""
    a, b = old.split(), new.split()
    out: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(html.escape(" ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(f"<s>{html.escape(' '.join(a[i1:i2]))}</s>")
        if j2 > j1:
            out.append(f"<u><b>{html.escape(' '.join(b[j1:j2]))}</b></u>")
    return " ".join(out)


class WorkspaceEdit(QPlainTextEdit):
    """The caption in place. Up on the first line, Down on the last, PgUp and PgDn go to the
    table (the next or previous image); undo and redo belong to the window's undo stack."""

    def __init__(self, table: QTableView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._table = table
        self.setUndoRedoEnabled(False)
        self.setTabChangesFocus(True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(super().sizeHint().width(), self.fontMetrics().lineSpacing() * 4 + 12)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key, mods = event.key(), event.modifiers()
            ctrl = Qt.KeyboardModifier.ControlModifier
            if mods & ctrl and key in (Qt.Key.Key_Z, Qt.Key.Key_Y):
                event.ignore()  # the window's undo stack, not the text box's own
                return False
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        cursor = self.textCursor()
        to_table = key in (Qt.Key.Key_PageUp, Qt.Key.Key_PageDown) or (
            event.modifiers() == Qt.KeyboardModifier.NoModifier
            and (
                (key == Qt.Key.Key_Up and cursor.block() == self.document().firstBlock())
                or (key == Qt.Key.Key_Down and cursor.block() == self.document().lastBlock())
            )
        )
        if to_table:
            QApplication.sendEvent(self._table, QKeyEvent(event))
            return
        super().keyPressEvent(event)


class WorkspacePanel(QWidget):
    picked = Signal(str)  # an alternative caption was chosen

    def __init__(self, model: WorkspaceModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = WorkspaceFilter(self)
        self.proxy.setSourceModel(model)
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_filters())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_table())
        splitter.addWidget(self._build_editor())
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._build_actions())
        self.alternatives.itemActivated.connect(
            lambda it: self.picked.emit(str(it.data(Qt.ItemDataRole.UserRole)))
        )

    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        label = QLabel("&Show:")
        self.state_filter = QComboBox()
        for text, state in FILTERS:
            self.state_filter.addItem(text, state)
        self.state_filter.setAccessibleName("Show images in state")
        self.state_filter.view().setAccessibleName("Review states")
        self.state_filter.setToolTip("Show only the images in one review state")
        label.setBuddy(self.state_filter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search captions and file names")
        self.search.setAccessibleName("Search captions")
        self.search.setToolTip("Show only the images whose caption or name holds these words")
        self.counts = LiveLabel("Workspace")
        self.state_filter.currentIndexChanged.connect(
            lambda _n: self.proxy.set_state(str(self.state_filter.currentData()))
        )
        self.search.textChanged.connect(self.proxy.set_search)
        row.addWidget(label)
        row.addWidget(self.state_filter)
        row.addWidget(self.search, 1)
        row.addWidget(self.counts)
        return row

    def _build_table(self) -> QTableView:
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setAccessibleName("Workspace images")
        self.table.setToolTip("Each image, its caption and its review state")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # the workspace's own order
        self.table.setWordWrap(False)
        self.table.setTabKeyNavigation(False)
        self.table.setIconSize(QSize(THUMB, THUMB))
        vheader = self.table.verticalHeader()
        vheader.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        vheader.setDefaultSectionSize(THUMB + 6)
        vheader.hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(0, THUMB + 8)
        header.resizeSection(1, 200)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(3, 170)
        return self.table

    def _build_editor(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.current = LiveLabel("Current image")
        self.badge = LiveLabel("Review state")
        top.addWidget(self.current, 1)
        top.addWidget(self.badge)
        layout.addLayout(top)
        caption_label = QLabel("Capti&on (F2):")
        self.editor = WorkspaceEdit(self.table)
        self.editor.setAccessibleName("Caption editor")
        self.editor.setToolTip("Edit the caption; Ctrl+Enter approves it and moves on")
        caption_label.setBuddy(self.editor)
        layout.addWidget(caption_label)
        layout.addWidget(self.editor, 1)
        self.score = LiveLabel("Score")
        self.diff = QLabel()
        self.diff.setTextFormat(Qt.TextFormat.RichText)
        self.diff.setWordWrap(True)
        self.diff.setAccessibleName("Cleanup of the model's caption")
        self.diff.setToolTip("What cleanup changed in the model's text (struck: removed)")
        layout.addWidget(self.score)
        layout.addWidget(self.diff)
        alt_label = QLabel("Other &captions (Enter picks one):")
        self.alternatives = QListWidget()
        self.alternatives.setAccessibleName("Other captions")
        self.alternatives.setToolTip("Earlier and other captions of this image; Enter picks one")
        self.alternatives.setMaximumHeight(90)
        alt_label.setBuddy(self.alternatives)
        layout.addWidget(alt_label)
        layout.addWidget(self.alternatives)
        return box

    def _build_actions(self) -> QHBoxLayout:
        row = QHBoxLayout()

        def button(text: str, tip: str) -> QPushButton:
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setAccessibleName(text.replace("&", "").rstrip("…"))
            row.addWidget(b)
            return b

        self.approve = button("&Approve", "Approve and go to the next image (Ctrl+Enter)")
        self.regenerate = button("Re&generate", "Caption this image again (Ctrl+R)")
        self.next_flagged = button("Next f&lagged", "Go to the next weak or failed image (F8)")
        self.approve_visible = button("Approve all show&n", "Approve every image the filter shows")
        self.replace = button("Fin&d and replace…", "Replace words in the selected captions")
        self.retry = button("Retr&y failed", "Caption the failed images again")
        self.write = button("W&rite approved", "Write the approved captions (Ctrl+S)")
        return row

    # ---------------------------------------------------------------- editor contents
    def show_item(self, name: str, item: Any, diff_from: str = "") -> None:
        """The current image in the editor (None: nothing chosen)."""
        if item is None:
            self.current.setText("")
            self.badge.setText("")
            self.score.setText("")
            self.diff.setText("")
            self.alternatives.clear()
            if self.editor.toPlainText():
                self.editor.setPlainText("")
            return
        self.current.setText(name)
        self.badge.setText(badge_text(item))
        self.badge.setAccessibleName(accessible_state(item))
        text = item.text
        if self.editor.toPlainText() != text:
            self.editor.setPlainText(text)
        self.score.setText(score_text(item))
        model_text = item.model_text or ""
        shown = diff_from or model_text
        self.diff.setText(
            f"Cleanup of the model's text: {word_diff(shown, text)}"
            if shown and shown != text and item.origin is not None and item.origin.value != "person"
            else ""
        )
        self.alternatives.clear()
        for alt in item.alternatives:
            if alt.text and alt.text != text:
                row = QListWidgetItem(alternative_text(alt))
                row.setData(Qt.ItemDataRole.UserRole, alt.text)
                self.alternatives.addItem(row)


ORIGINS = {
    "model": "the model",
    "beam": "beam search",
    "regenerated": "the model, earlier",
    "person": "yours, earlier",
}


def alternative_text(alt: Any) -> str:
    origin = ORIGINS.get(str(getattr(alt.origin, "value", alt.origin)), "")
    rank = f" #{alt.rank}" if alt.rank else ""
    return f"{alt.text}   ({origin}{rank})" if origin else alt.text


def score_text(item: Any) -> str:
    """The model's score only beside the model's own text; a person's text is not scored."""
    state = state_of(item)
    if state == "failed":
        return f"Failed: {item.reason or 'unknown reason'}"
    if item.text_score is None:
        if item.model_text and item.score is not None:
            return f"Your text (the model's own caption scored {item.score:.2f})"
        return ""
    return f"Model's score for this caption: {item.text_score:.2f}"

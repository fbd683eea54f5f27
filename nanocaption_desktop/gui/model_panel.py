"""Shown instead of the drop area when no model bundle is found or the one found is broken."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from .messages import ModelProblem

TEXT_WIDTH = 560


class MissingModelPanel(QFrame):
    download_requested = Signal()
    choose_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("missingModel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        # everything in a scroll area: at the window's smallest size (or large text) the panel
        # scrolls instead of squeezing its text and buttons under each other
        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        # the scroll area takes focus (to scroll with the keys), so a screen reader lists it:
        # unnamed, AT-SPI showed an empty "filler" (check_a11y.py)
        self.scroller.setAccessibleName("Model setup")
        self.scroller.setAccessibleDescription(
            "No usable captioning model: download one, or choose a model folder"
        )
        self.content = QWidget()
        self.content.setObjectName("missingModelContent")
        self.scroller.setWidget(self.content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroller)
        layout = QVBoxLayout(self.content)
        layout.addStretch(1)
        self.title = QLabel("The captioning model is not installed yet")
        self.title.setObjectName("dropTitle")
        self.title.setWordWrap(True)
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel(
            "NanoCaption writes captions with a model that runs on this computer "
            "(ViT-GPT2, about 250 MB). Download it once, or choose a folder that already "
            "holds a model bundle. Nothing you caption ever leaves your machine."
        )
        self.body.setWordWrap(True)
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail = QLabel("")
        self.detail.setObjectName("detail")
        self.detail.setWordWrap(True)
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.detail.setAccessibleName("Where the app looked")
        buttons = QHBoxLayout()
        self.download = QPushButton("&Download model (≈250 MB)")
        self.download.setAccessibleName("Download model")
        self.download.setToolTip("Fetch the default model from the internet (once, about 250 MB)")
        self.download.clicked.connect(self.download_requested)
        self.choose = QPushButton("Choose model f&older…")
        self.choose.setAccessibleName("Choose model folder")
        self.choose.setToolTip("Use a model bundle folder that is already on this computer")
        self.choose.clicked.connect(self.choose_requested)
        stacked = QVBoxLayout()  # one above the other: the panel stays narrow in a small window
        stacked.addWidget(self.download)
        stacked.addWidget(self.choose)
        buttons.addStretch(1)
        buttons.addLayout(stacked)
        buttons.addStretch(1)
        text = QWidget()  # readable lines, not one across the whole panel
        text.setMaximumWidth(TEXT_WIDTH)
        text_layout = QVBoxLayout(text)
        text_layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.title, self.body, self.detail):
            text_layout.addWidget(widget)
        centred = QHBoxLayout()
        centred.addStretch(1)
        centred.addWidget(text, 100)
        centred.addStretch(1)
        layout.addLayout(centred)
        layout.addSpacing(12)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def show_problem(self, problem: ModelProblem) -> None:
        lines = []
        if problem.reason:
            self.title.setText("The captioning model could not be opened")
            lines.append(f"Problem: {problem.reason}")
        else:
            self.title.setText("The captioning model is not installed yet")
        if problem.searched:
            lines.append("Looked in:\n" + "\n".join(problem.searched))
        self.detail.setText("\n\n".join(lines))
        self.detail.setAccessibleDescription(self.detail.text())

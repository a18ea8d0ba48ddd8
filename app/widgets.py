"""Small thin widgets: caption list, state pill, status banner."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .conversation import Conversation
from .theme import STATE_COLORS


def form_grid(box: QWidget, rows: Sequence[tuple[str, QWidget]]) -> QGridLayout:
    """The side panel's labelled rows (Devices, Answers): a field label and its widget per row;
    the widget column stretches. Returns the grid for rows added below them."""
    grid = QGridLayout(box)
    grid.setContentsMargins(0, 4, 0, 0)
    grid.setHorizontalSpacing(8)
    grid.setVerticalSpacing(6)
    for r, (title, widget) in enumerate(rows):
        lab = QLabel(title)
        lab.setObjectName("fieldLabel")
        grid.addWidget(lab, r, 0)
        grid.addWidget(widget, r, 1)
    grid.setColumnStretch(1, 1)
    return grid


def widget_app(argv: list[str] | None = None) -> QApplication:
    """The process's QApplication: the running one, else a new one made from `argv`."""
    app = QApplication.instance()
    if app is None:
        return QApplication(argv if argv is not None else [])
    if not isinstance(app, QApplication):
        raise RuntimeError("Duet's windows need a QApplication, but a QCoreApplication is running")
    return app


def tool_button(text: str, tip: str, on_click: Callable[..., object], checkable: bool = False) -> QToolButton:
    """A top-bar button; `on_click` gets the checked state when `checkable`."""
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.setCheckable(checkable)
    (button.toggled if checkable else button.clicked).connect(on_click)
    return button


EMPTY_HINT = (
    "Just talk: the avatar listens all the time and answers when you finish. Talk over it to "
    "interrupt, or type below."
)
EMPTY_HINT_PTT = "Hold Space (or “Hold to talk”) while you speak, or type below."


class CaptionPanel(QFrame):
    """Chat-style live captions: user bubbles right, avatar bubbles left; partials in italics."""

    def __init__(self, conversation: Conversation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("captions")
        self.conversation = conversation
        self.setMinimumWidth(300)
        self._outer = outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 14, 10, 14)
        title = QLabel("CONVERSATION")
        title.setObjectName("captionsTitle")
        outer.addWidget(title)
        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list = QWidget()
        self.list.setObjectName("captionList")
        self.lay = QVBoxLayout(self.list)
        self.lay.setContentsMargins(0, 6, 6, 6)
        self.lay.setSpacing(8)
        self.empty_hint = QLabel(EMPTY_HINT)  # shown until the first caption
        self.empty_hint.setObjectName("captionsHint")
        self.empty_hint.setWordWrap(True)
        self.lay.addWidget(self.empty_hint)
        self.lay.addStretch(1)
        self.scroller.setWidget(self.list)
        outer.addWidget(self.scroller, 1)
        bar = self.scroller.verticalScrollBar()
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi))  # follow the newest caption
        self._bubbles: list[_Bubble] = []  # oldest first, one a shown caption
        self.sections: dict[str, QToolButton] = {}  # title -> its fold button (add_section)
        conversation.changed.connect(self.refresh)

    def add_section(self, title: str, body: QWidget, open_: bool = True) -> QToolButton:
        """A settings section under the conversation; its title folds it away (the conversation
        gets the room) and opens it again."""
        head = QToolButton()
        head.setObjectName("sectionTitle")
        head.setText(title)
        head.setCheckable(True)
        head.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)

        def show(on: bool) -> None:
            body.setVisible(on)
            head.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
            head.setToolTip(f"Hide {title.lower()}" if on else f"Show {title.lower()}")

        self._outer.addSpacing(10)
        self._outer.addWidget(head)
        self._outer.addWidget(body)  # parented first: showing it before would flash it as a window
        head.toggled.connect(show)
        head.setChecked(open_)
        show(open_)
        self.sections[title] = head
        return head

    def texts(self) -> list[tuple[str, str, bool]]:
        return [(c.side, c.text, c.final) for c in self.conversation.captions]

    def refresh(self) -> None:
        caps = list(self.conversation.captions)[-60:]
        self.empty_hint.setVisible(not caps)
        while len(self._bubbles) > len(caps):
            row = self._bubbles.pop(0).row
            self.lay.removeWidget(row)
            row.deleteLater()
        while len(self._bubbles) < len(caps):
            b = _Bubble()
            self.lay.insertWidget(self.lay.count() - 1, b.row)
            self._bubbles.append(b)
        for b, cap in zip(self._bubbles, caps):
            name = "bubbleUser" if cap.side == "user" else "bubbleAvatar"
            restyle = b.frame.objectName() != name or b.frame.property("partial") != (not cap.final)
            b.frame.setObjectName(name)
            b.frame.setProperty("partial", not cap.final)
            b.label.setText(cap.text + ("…" if not cap.final else ""))
            font = b.label.font()
            font.setItalic(not cap.final)
            b.label.setFont(font)
            # user bubbles indented from the left, avatar bubbles from the right
            b.row_layout.setContentsMargins(*((36, 0, 0, 0) if cap.side == "user" else (0, 0, 36, 0)))
            if restyle:  # the style sheet's [partial] rules reach the label too: re-polish both
                for w in (b.frame, b.label):
                    w.style().unpolish(w)
                    w.style().polish(w)


class _Bubble:
    """One caption row: row (full width) > frame (the styled bubble) > label (the text)."""

    def __init__(self) -> None:
        self.row = QWidget()
        self.row.setObjectName("captionRow")
        self.row_layout = QHBoxLayout(self.row)
        self.frame = QFrame()
        inner = QVBoxLayout(self.frame)
        inner.setContentsMargins(10, 7, 10, 7)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setStyleSheet("background: transparent;")
        inner.addWidget(self.label)
        self.row_layout.addWidget(self.frame)


class StatePill(QLabel):
    """The conversation state ("listening", "speaking", ...) as a coloured pill. It is as wide as
    its widest everyday state, so the buttons beside it do not move as the state changes."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statePill")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._fitted = False
        self.set_state("starting")

    @staticmethod
    def text_for(state: str) -> str:
        # "idle" is the model's word for "waiting for you"; the avatar hears all the time (grey
        # "idle" read as "the microphone is off")
        return {"starting": "starting…", "idle": "ready"}.get(state, state)

    def set_state(self, state: str) -> None:
        self.state = state
        color = STATE_COLORS.get(state, "#8a93a6")
        self.setText(self.text_for(state))
        self.setStyleSheet(f"#statePill {{ background: {color}; }}")

    def showEvent(self, event: QShowEvent) -> None:
        if not self._fitted:  # styled by now (font weight, padding): measure every state once
            self._fitted = True
            current, widest = self.text(), 0
            for state in STATE_COLORS:  # every state, "starting…" too (a persona switch shows it)
                self.setText(self.text_for(state))
                widest = max(widest, self.sizeHint().width())
            self.setText(current)
            self.setMinimumWidth(widest)
        super().showEvent(event)


class Banner(QFrame):
    """A status line above the stage; `retry` is offered on errors, and a warning can be dismissed."""

    retry = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 8, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setStyleSheet("background: transparent; color: inherit;")
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.label, 1)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(self.retry)
        lay.addWidget(self.retry_button)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(lambda: self.show_status("", ""))
        lay.addWidget(self.close_button)
        self.level = ""
        self.hide()

    def show_status(self, level: str, text: str) -> None:
        self.level = level
        if not text:
            self.label.setText("")
            self.hide()
            return
        self.setProperty("level", level or "info")
        self.label.setText(text)
        self.label.setStyleSheet(
            {"error": "color: #ffb3b3;", "warn": "color: #ffd08a;"}.get(level, "color: #c9d6ff;")
            + "background: transparent;"
        )
        self.retry_button.setVisible(level == "error")
        self.close_button.setVisible(level == "warn")
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()

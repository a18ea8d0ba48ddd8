"""Small thin widgets: caption list, state pill, status banner."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
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
        lab.setBuddy(widget)  # a screen reader names the field after it
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
    "interrupt, or type below. F1 lists the keyboard shortcuts."
)
EMPTY_HINT_PTT = (
    "Hold Space (or “Hold to talk”) while you speak, or type below: in the text box Space talks "
    "until you start a line, then types. F1 lists the keyboard shortcuts."
)


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
        self.title_row = QHBoxLayout()  # the title, and room on its right for a button (New conversation)
        self.title_row.setContentsMargins(0, 0, 0, 0)
        self.title_row.addWidget(title)
        self.title_row.addStretch(1)
        outer.addLayout(self.title_row)
        self.scroller = QScrollArea()
        self.scroller.setObjectName("conversation")  # a Tab stop: the arrow keys scroll it
        self.scroller.setAccessibleName("Conversation")
        self.scroller.setAccessibleDescription("What you and the avatar said, newest last")
        self.scroller.setWidgetResizable(True)
        self.scroller.setMinimumHeight(1)  # on a short window an open section may take all the room
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
        self.avatar_name = "Avatar"  # over the avatar's bubbles (set_avatar_name); "You" over yours
        self.sections: dict[str, QToolButton] = {}  # title -> its fold button (add_section)
        self._opened: QToolButton | None = None  # the section opened last (kept open by _make_room)
        conversation.changed.connect(self.refresh)

    def add_section(self, title: str, body: QWidget, open_: bool = True) -> QToolButton:
        """A settings section under the conversation; its title folds it away (the conversation
        gets the room) and opens it again. Where the panel is too short for all of them open,
        opening one folds the others."""
        head = QToolButton()
        head.setObjectName("sectionTitle")
        head.setText(title)
        head.setCheckable(True)
        head.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        head.setAccessibleName(f"{title.capitalize()} settings")

        def show(on: bool) -> None:
            body.setVisible(on)
            head.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
            head.setToolTip(f"Hide {title.lower()}" if on else f"Show {title.lower()}")
            head.setAccessibleDescription("shown" if on else "folded")
            if on:
                self._opened = head
                self._make_room()

        self._outer.addSpacing(6)
        self._outer.addWidget(head)
        self._outer.addWidget(body)  # parented first: showing it before would flash it as a window
        head.toggled.connect(show)
        head.setChecked(open_)
        show(open_)
        self.sections[title] = head
        return head

    def _make_room(self) -> None:
        """Fold open sections, the last opened aside, while the panel is too short for them."""
        if not self.isVisible():
            return
        for head in self.sections.values():
            if self.minimumSizeHint().height() <= self.height():
                return
            if head is not self._opened and head.isChecked():
                head.setChecked(False)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._make_room()

    def set_avatar_name(self, name: str) -> None:
        """The name over the avatar's bubbles (its avatar's name: "Ada")."""
        if name != self.avatar_name:
            self.avatar_name = name
            self.refresh()

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
            who = "You" if cap.side == "user" else self.avatar_name
            b.speaker.setText(who)
            b.frame.setAccessibleName(f"{who} said")
            side = Qt.AlignmentFlag.AlignRight if cap.side == "user" else Qt.AlignmentFlag.AlignLeft
            b.speaker.setAlignment(side)
            font = b.label.font()
            font.setItalic(not cap.final)
            b.label.setFont(font)
            # user bubbles indented from the left, avatar bubbles from the right
            b.row_layout.setContentsMargins(*((36, 0, 0, 0) if cap.side == "user" else (0, 0, 36, 0)))
            if restyle:  # the style sheet's [partial] rules reach the label too: re-polish both
                for w in (b.frame, b.speaker, b.label):
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
        inner.setContentsMargins(10, 5, 10, 7)
        inner.setSpacing(1)
        self.speaker = QLabel()  # who said it: "You", or the avatar's name
        self.speaker.setObjectName("speaker")
        self.speaker.setStyleSheet("background: transparent;")
        inner.addWidget(self.speaker)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setStyleSheet("background: transparent;")
        inner.addWidget(self.label)
        self.row_layout.addWidget(self.frame)


STATE_TIPS = {
    "listening": "Listening: the avatar hears you",
    "ready": "Ready: the avatar hears you and waits for you to talk",
    "thinking": "Thinking: the avatar is working out its answer",
    "speaking": "Speaking: talk over it (or press Ctrl+I) to interrupt",
    "starting…": "Starting: the engine or the conversation is getting ready",
    "offline": "Offline: the engine is not running (the message above the avatar says why)",
    "no session": "No conversation: the persona or avatar could not be loaded",
    "muted": "Muted: the avatar hears nothing until you unmute (Ctrl+M)",
    "hold to talk": "Push-to-talk: the avatar hears you while you hold Space or “Hold to talk”",
}


class StatePill(QLabel):
    """The conversation state ("listening", "speaking", ...) as a coloured pill. It is as wide as
    its widest everyday state, so the buttons beside it do not move as the state changes.

    What the pill says about the microphone comes first while the avatar waits for you: "muted"
    when muted; in push-to-talk mode "hold to talk" while nothing is held, "listening" while
    something is (set_input)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("statePill")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._fitted = False
        self.muted = self.ptt = self.talking = False
        self.shown = ""  # the state shown: the engine's, or "muted" / "hold to talk"
        self.set_state("starting")

    @staticmethod
    def text_for(state: str) -> str:
        # "idle" is the model's word for "waiting for you"; the avatar hears all the time (grey
        # "idle" read as "the microphone is off")
        return {"starting": "starting…", "idle": "ready"}.get(state, state)

    def set_state(self, state: str) -> None:
        """The conversation's state, as the engine says it."""
        self.state = state
        self._show()

    def set_input(self, muted: bool, ptt: bool, talking: bool) -> None:
        """The microphone: muted, in push-to-talk mode, held to talk."""
        self.muted, self.ptt, self.talking = muted, ptt, talking
        self._show()

    def _show(self) -> None:
        shown = self.state
        if shown in ("idle", "listening"):  # waiting for you: can you be heard?
            if self.muted:
                shown = "muted"
            elif self.ptt:  # held: it hears you now; not held: it hears nothing
                shown = "listening" if self.talking else "hold to talk"
        self.shown = shown
        color = STATE_COLORS.get(shown, "#8a93a6")
        text = self.text_for(shown)
        self.setText(text)
        self.setToolTip(STATE_TIPS.get(text, ""))
        self.setAccessibleName(f"Conversation state: {text}")
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
        self.retry_button.setToolTip("Start the engine again now")
        self.retry_button.setAccessibleName("Retry starting the engine")
        self.retry_button.clicked.connect(self.retry)
        lay.addWidget(self.retry_button)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss this message")
        self.close_button.setAccessibleName("Dismiss message")
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

"""The window's keyboard: its shortcuts, the "Keyboard shortcuts" sheet (F1), and Space as
push-to-talk.

In push-to-talk mode, holding Space talks wherever Space has nothing else to do: on the avatar,
the conversation, the window, and in the chat text box while it is empty (so after sending a line
you can hold Space at once). Where Space means something, it keeps its meaning: it types in a
text field (the chat box once a line is started, the Answers fields), presses a focused button
(holding "Hold to talk" talks too) and opens a focused picker.

KeyboardMixin is a mixin of MainWindow (window.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QIcon, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSlider,
    QAbstractSpinBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .widgets import widget_app

if TYPE_CHECKING:
    from .controls import BarButton
    from .core import DuetCore

    _Base = QMainWindow
else:
    _Base = object

# widgets that have a use for Space of their own: typing, pressing, opening, stepping
_SPACE_TAKERS = (
    QLineEdit,
    QTextEdit,
    QPlainTextEdit,
    QAbstractSpinBox,
    QAbstractButton,
    QComboBox,
    QAbstractItemView,
    QAbstractSlider,
)
_MOD = Qt.KeyboardModifier
_CHORD = _MOD.ControlModifier | _MOD.AltModifier | _MOD.MetaModifier


@dataclass(frozen=True)
class Shortcut:
    keys: str  # as shown ("Ctrl+T")
    what: str
    kiosk: bool = True  # listed in a kiosk's sheet (not what a visitor cannot use, nor the way out)


SHORTCUTS = (
    Shortcut("Space (hold)", "Talk, in push-to-talk mode (not while typing a line)", kiosk=False),
    Shortcut("Enter", "Send the typed line"),
    Shortcut("Ctrl+I", "Interrupt the avatar"),
    Shortcut("Ctrl+M", "Mute or unmute the microphone", kiosk=False),
    Shortcut("Ctrl+T", "Push-to-talk on or off", kiosk=False),
    Shortcut("Ctrl+R", "Record, or stop recording", kiosk=False),
    Shortcut("Ctrl+N", "New conversation: clear it, the avatar starts over"),
    Shortcut("Ctrl+H", "Latency HUD"),
    Shortcut("F11", "Full screen (Esc leaves it)", kiosk=False),
    Shortcut("Tab, Shift+Tab", "Move between the controls"),
    Shortcut("Alt+Down, Space", "Open a picker's list (Enter chooses, Esc keeps the choice)", kiosk=False),
    Shortcut("F1, Ctrl+/", "This list"),
    Shortcut("Ctrl+Shift+Q", "Quit Duet", kiosk=False),  # the operator's way out: not shown to visitors
)


class ShortcutSheet(QDialog):
    """The keyboard shortcuts, one row each (F1 or Ctrl+/ shows it; Esc or Close closes it)."""

    def __init__(self, kiosk: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcuts")
        self.setWindowTitle("Keyboard shortcuts")
        self.setAccessibleName("Keyboard shortcuts")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(20, 16, 20, 14)
        title = QLabel("Keyboard shortcuts")
        title.setObjectName("shortcutsTitle")
        outer.addWidget(title)
        outer.addSpacing(6)
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(6)
        self.rows: list[tuple[str, str]] = [(s.keys, s.what) for s in SHORTCUTS if s.kiosk or not kiosk]
        for r, (keys, what) in enumerate(self.rows):
            key = QLabel(keys)
            key.setObjectName("shortcutKeys")
            grid.addWidget(key, r, 0)
            grid.addWidget(QLabel(what), r, 1)
        outer.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        for button in buttons.buttons():
            button.setIcon(QIcon())  # (the platform's icon is drawn dark on the dark theme)
        buttons.rejected.connect(self.reject)
        outer.addSpacing(8)
        outer.addWidget(buttons)


class KeyboardMixin(_Base):
    core: DuetCore
    kiosk: bool
    text_box: QLineEdit
    mute_button: BarButton
    ptt_toggle: BarButton
    talk_button: BarButton
    stop_button: BarButton
    record_button: BarButton
    hud_button: QToolButton

    _space_talking = False  # Space went down as push-to-talk (its release ends the turn)
    shortcut_sheet: ShortcutSheet | None = None

    if TYPE_CHECKING:  # the window's own (window.py, fullscreen.py)

        def toggle_fullscreen(self) -> None: ...
        def _leave_fullscreen(self) -> None: ...
        def _set_ptt(self, down: bool) -> None: ...
        def new_conversation(self) -> None: ...

    def _add_shortcuts(self) -> None:
        # Esc leaves full screen, and only there takes the key (a dialog, a list gets it otherwise)
        self.esc_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self._leave_fullscreen)
        self.esc_shortcut.setEnabled(False)
        for keys, action in (
            (QKeySequence(Qt.Key.Key_F11), self.toggle_fullscreen),
            (QKeySequence("Ctrl+H"), self.hud_button.toggle),
            (QKeySequence("Ctrl+Shift+Q"), self.close),  # the way out of a kiosk, too
            (QKeySequence(Qt.Key.Key_F1), self.show_shortcuts),
            (QKeySequence("Ctrl+/"), self.show_shortcuts),
            (QKeySequence("Ctrl+I"), self._interrupt_key),
            (QKeySequence("Ctrl+M"), self._mute_key),
            (QKeySequence("Ctrl+T"), self._ptt_key),
            (QKeySequence("Ctrl+R"), self._record_key),
            (QKeySequence("Ctrl+N"), self.new_conversation),
        ):
            QShortcut(keys, self, action)

    def show_shortcuts(self) -> None:
        if self.shortcut_sheet is None:
            self.shortcut_sheet = ShortcutSheet(self.kiosk, self)
            self.shortcut_sheet.finished.connect(self.activateWindow)  # the keys come back here
        self.shortcut_sheet.show()
        self.shortcut_sheet.raise_()
        self.shortcut_sheet.activateWindow()

    def _interrupt_key(self) -> None:
        self.stop_button.animateClick()  # seen pressed, then clicked

    def _mute_key(self) -> None:
        if not self.kiosk:  # a booth's visitors have no Mute
            self.mute_button.toggle()

    def _ptt_key(self) -> None:
        if not self.kiosk:
            self.ptt_toggle.toggle()

    def _record_key(self) -> None:
        if not self.kiosk:  # a booth records as it was started (--record), or not at all
            self.record_button.toggle()

    # ------------------------------------------------------------------ Space = push-to-talk
    def space_talks(self, focus: QWidget | None) -> bool:
        """Does Space talk with `focus` focused (push-to-talk mode)? See the module's docstring."""
        if focus is None:
            return True
        if focus is self.text_box:
            return not self.text_box.text()
        return not isinstance(focus, _SPACE_TAKERS)

    def _watch_space(self, on: bool) -> None:
        """Push-to-talk mode on: Space is watched (an application-wide filter, only while on)."""
        app = widget_app()
        if on:
            app.installEventFilter(self)
        else:
            app.removeEventFilter(self)
            self._space_talking = False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        t = event.type()
        if t == QEvent.Type.WindowDeactivate and obj is self and self._space_talking:
            self._space_talking = False  # Space is let go elsewhere: this window never hears it
            self._set_ptt(False)
        elif t in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            assert isinstance(event, QKeyEvent)
            # a chord (Ctrl+Space) is not talk; but the release of a held Space ends the turn
            # whatever is held with it (Space down, Ctrl+I to interrupt, Space up with Ctrl down)
            if event.key() == Qt.Key.Key_Space and (self._space_talking or not event.modifiers() & _CHORD):
                return self._space(obj, event)
        return super().eventFilter(obj, event)

    def _space(self, obj: QObject, event: QKeyEvent) -> bool:
        """Space pressed or let go: True when it was push-to-talk (then no widget gets it)."""
        if self._space_talking:  # held: its auto-repeats and its release are push-to-talk's
            if event.type() == QEvent.Type.KeyRelease and not event.isAutoRepeat():
                self._space_talking = False
                self._set_ptt(False)
            return True
        if event.type() != QEvent.Type.KeyPress or event.isAutoRepeat():
            return False
        # a key goes to the window first, then to its focus widget (a test sends it to a widget)
        focus = obj if isinstance(obj, QWidget) else widget_app().focusWidget()
        window = focus.window() if focus is not None else None
        if not self.isActiveWindow() or (window is not None and window is not self):
            return False  # another window's (a dialog's) Space
        if not self.space_talks(focus):
            return False
        self._space_talking = True
        self._set_ptt(True)
        return True

"""Fullscreen as a booth's stage (F11, `--fullscreen`, `--kiosk`): the avatar fills the screen, the
pickers, side panel and device notes hide, the bottom bar stays, and the newest caption shows under
the avatar (Subtitle) until a few seconds after the avatar is done.

FullscreenMixin is a mixin of MainWindow (window.py); Subtitle is the caption line it shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QRect, Qt, QTimer
from PySide6.QtGui import QShortcut
from PySide6.QtWidgets import QLabel, QMainWindow, QWidget

from .conversation import Conversation

if TYPE_CHECKING:
    from .core import DuetCore
    from .settings import Settings
    from .stage import Stage
    from .widgets import CaptionPanel

    _Base = QMainWindow
else:
    _Base = object

FULLSCREEN_FIT_MS = 300  # after this long, a window the desktop did not resize is fitted
SUBTITLE_HOLD_MS = 6000  # a caption stays this long after the avatar is done (a booth's next
# visitor must not read the last one's answer)
LEAVE_HINT_MS = 4000  # "Esc or F11 leaves full screen" shows this long on entering it (not in a kiosk)
LEAVE_HINT = "Press Esc or F11 to leave full screen"
SUBTITLE_LINES_PX = 72  # room for two lines of the 22 px subtitle font
SUBTITLE_SCREEN_FRACTION = 1 / 36  # on a big screen the font grows to this part of its height
# (22 px on a 768-line laptop, 30 px at 1080 lines: read from a few steps back at a booth)


class Subtitle(QLabel):
    """The newest caption ("You: …" for the user's), shown while `set_shown(True)` (fullscreen),
    blank when there is nothing to read: its room is kept, so the avatar never jumps."""

    def __init__(self, conversation: Conversation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("subtitle")
        self.setWordWrap(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumHeight(SUBTITLE_LINES_PX)
        self.hide()
        self.conversation = conversation
        self._shown = False
        self._gone: tuple[int, str, bool] | None = None  # (id, text, final) of the caption that expired
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._expired)
        conversation.changed.connect(self.refresh)

    def set_shown(self, on: bool) -> None:
        self._shown = on
        if on:
            self.fit_font()
        self.refresh()

    def fit_font(self) -> None:
        """Size the font for the screen it is on (at least the stylesheet's 22 px)."""
        screen = self.screen()
        px = max(22, round(screen.geometry().height() * SUBTITLE_SCREEN_FRACTION)) if screen else 22
        self.setStyleSheet(f"#subtitle {{ font-size: {px}px; }}")
        self.setMinimumHeight(round(SUBTITLE_LINES_PX * px / 22))

    def refresh(self) -> None:
        captions = self.conversation.captions
        last = captions[-1] if captions else None
        if last is not None and self._gone == (id(last), last.text, last.final):
            last = None  # it expired (a withdrawn partial after it must not bring it back)
        text = "" if last is None else (last.text if last.side == "avatar" else f"You: {last.text}")
        self.setText(text + ("…" if last is not None and not last.final else ""))
        self.setVisible(self._shown)
        if text:
            self._timer.start(SUBTITLE_HOLD_MS)

    def _expired(self) -> None:
        if self.conversation.state in ("thinking", "speaking"):  # still answering: keep it
            self._timer.start(SUBTITLE_HOLD_MS)
            return
        captions = self.conversation.captions
        if captions:
            self._gone = (id(captions[-1]), captions[-1].text, captions[-1].final)
        self.setText("")


class FullscreenMixin(_Base):
    core: DuetCore
    settings: Settings
    kiosk: bool  # a booth's fullscreen that visitors cannot leave (start_kiosk)
    top_bar: QWidget
    captions: CaptionPanel
    subtitle: Subtitle
    stage: Stage
    _normal_geometry: QByteArray | None  # the window's geometry before fullscreen
    _normal_rect: QRect | None  # its client area then (screen pixels)
    esc_shortcut: QShortcut  # Esc leaves full screen (keyboard.py): enabled only in it

    if TYPE_CHECKING:  # the window's own (window.py, window_layout.py)
        from .controls import BarButton

        mute_button: BarButton
        ptt_toggle: BarButton
        talk_button: BarButton
        record_button: BarButton

        def _set_ptt_mode(self, on: bool) -> None: ...
        def _update_note(self) -> None: ...

    def start_kiosk(self) -> None:
        """`duet --kiosk`, for an unattended booth: fullscreen that Esc and F11 do not leave, and
        no Mute, Push-to-talk or Record for visitors to press (the REC indicator stays: people see
        they are recorded). Ctrl+Shift+Q closes the app."""
        self.kiosk = True
        for button in (self.mute_button, self.ptt_toggle, self.talk_button, self.record_button):
            button.hide()
        if self.core.assembler.ptt_mode:  # no button to hold: talk freely (the saved choice stays)
            self._set_ptt_mode(False)
            self.settings.push_to_talk = True
        self.enter_fullscreen()

    def toggle_fullscreen(self) -> None:
        if self.kiosk:
            return
        if self.isFullScreen():
            self._leave_fullscreen()
        else:
            self.enter_fullscreen()

    def enter_fullscreen(self) -> None:
        """The stage fills the screen. F11 or Esc leaves (not in a kiosk)."""
        if not self.isFullScreen():  # (already: keep the geometry to go back to)
            self._normal_geometry = self.saveGeometry()
            # for a bare X server only (no frame): with a window manager, or before the window was
            # ever placed, restoreGeometry alone is right
            framed = self.frameGeometry() != self.geometry()
            self._normal_rect = self.geometry() if self.isVisible() and not framed else None
        self.showFullScreen()
        QTimer.singleShot(FULLSCREEN_FIT_MS, self._fit_screen)
        if not self.kiosk:  # the way out, said once on the way in (a booth's visitors have none)
            self.stage.show_toast(LEAVE_HINT, LEAVE_HINT_MS)

    def _windowed_geometry(self) -> QByteArray:
        """What is saved for the next start: the window as it is, or as it was before fullscreen
        (a booth closed in fullscreen must not come back in it with no way out; --fullscreen asks)."""
        if self.isFullScreen() and self._normal_geometry is not None:
            return self._normal_geometry
        return self.saveGeometry()

    def _fit_screen(self) -> None:
        # an X server without a window manager (a kiosk) never resizes a fullscreen window itself;
        # through the QWindow (QWidget.setGeometry would silently drop the fullscreen state)
        screen, handle = self.screen(), self.windowHandle()
        if self.isFullScreen() and screen and handle and self.geometry() != screen.geometry():
            handle.setGeometry(screen.geometry())

    def _leave_fullscreen(self) -> None:
        if self.isFullScreen() and not self.kiosk:
            self.showNormal()
            if self._normal_geometry is not None:
                self.restoreGeometry(self._normal_geometry)
            if self.isFullScreen():  # a geometry saved in fullscreen (an older Duet) restores it
                self.setWindowState(self.windowState() & ~Qt.WindowState.WindowFullScreen)
            if self._normal_rect is not None:
                # restoreGeometry assumes a window manager's frame: without one (a booth's bare X
                # server) it moved the window by the frame it thought it had, and that was saved
                self.setGeometry(self._normal_rect)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.WindowStateChange:  # F11, Esc, --fullscreen or the desktop's own
            full = self.isFullScreen()
            self.esc_shortcut.setEnabled(full)
            self.top_bar.setVisible(not full)
            self.captions.setVisible(not full)
            self.subtitle.set_shown(full)
            if not full:
                self.stage.hide_toast()
            self._update_note()
        super().changeEvent(event)

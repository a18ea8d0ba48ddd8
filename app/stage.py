"""The avatar stage: the avatar view with its overlays (self-view bottom right, HUD top left, a
passing note top centre)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QWidget

from .views import AvatarView, SelfView


class Stage(QWidget):
    """The avatar view with overlays: self-view (bottom right), HUD (top left) and a toast (top
    centre: a note that passes, "Esc or F11 leaves full screen")."""

    def __init__(self, view: AvatarView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stage")
        self.view = view
        view.setParent(self)
        self.self_view = SelfView(self)
        self.hud: QWidget | None = None
        self.toast = QLabel(self)
        self.toast.setObjectName("toast")  # (square: over the OpenGL view it is a window of its own)
        self.toast.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.toast.hide()
        self._toast_timer = QTimer(self)
        self._toast_timer.setSingleShot(True)
        self._toast_timer.timeout.connect(self.toast.hide)

    def show_toast(self, text: str, ms: int) -> None:
        """Show `text` over the top of the stage for `ms` milliseconds."""
        self.toast.setText(text)
        self.toast.setAccessibleName(text)
        self.toast.adjustSize()
        if self.view.kind == "vispy":  # over the native GL window only as a native window itself
            self.toast.setAttribute(Qt.WidgetAttribute.WA_NativeWindow, True)
        self.toast.show()
        self._layout()
        self._toast_timer.start(ms)

    def hide_toast(self) -> None:
        self._toast_timer.stop()
        self.toast.hide()

    def set_view(self, view: AvatarView) -> None:
        old = self.view
        self.view = view
        view.setParent(self)
        view.lower()
        view.show()
        old.hide()
        old.close_view()
        old.deleteLater()
        self._layout()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._layout()

    def _layout(self) -> None:
        self.view.setGeometry(self.rect())
        sv = self.self_view
        sv.move(self.width() - sv.width() - 16, self.height() - sv.height() - 16)
        sv.raise_()
        toast = self.toast
        toast.move((self.width() - toast.width()) // 2, 24)
        toast.raise_()
        hud = self.hud
        if hud is not None:
            # the avatar is a square as tall as the stage, centred: the whole HUD where the margin
            # beside it has room, or where it ends above the avatar's eyes (~40% down); else compact
            side = min(self.width(), self.height())
            margin = (self.width() - side) // 2
            eyes = (self.height() - side) // 2 + int(0.4 * side)
            set_compact = getattr(hud, "set_compact", None)  # (app.hud.Hud; a test may give a plain widget)
            if set_compact is not None:
                set_compact(False)
                full = hud.sizeHint()
                set_compact(full.width() + 32 > margin and full.height() + 16 > eyes)
            hud.adjustSize()
            hud.move(16, 16)
            hud.raise_()

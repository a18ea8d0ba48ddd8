"""The avatar stage: the avatar view with its overlays (self-view bottom right, HUD top left)."""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QWidget

from .views import AvatarView, SelfView


class Stage(QWidget):
    """The avatar view with overlays: self-view (bottom right) and HUD (top left)."""

    def __init__(self, view: AvatarView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("stage")
        self.view = view
        view.setParent(self)
        self.self_view = SelfView(self)
        self.hud: QWidget | None = None

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
        if self.hud is not None:
            self.hud.adjustSize()
            self.hud.move(16, 16)
            self.hud.raise_()

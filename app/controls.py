"""Controls that behave for the keyboard and for narrow windows: pickers that act only on a
deliberate choice and elide what does not fit, and bottom-bar buttons and labels with a compact
text for a narrow window (the full words stay in the tooltip and the accessible name)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QKeyEvent, QPaintEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionComboBox,
    QStylePainter,
    QToolTip,
    QWidget,
)

_STEP_KEYS = (
    Qt.Key.Key_Up,
    Qt.Key.Key_Down,
    Qt.Key.Key_PageUp,
    Qt.Key.Key_PageDown,
    Qt.Key.Key_Home,
    Qt.Key.Key_End,
)
_MOD = Qt.KeyboardModifier
_NO_TYPING = _MOD.ControlModifier | _MOD.AltModifier | _MOD.MetaModifier


class PickerCombo(QComboBox):
    """A picker whose choice takes effect only when the user makes one.

    Qt's combo box changes its choice on a single arrow key, a typed letter or a turn of the mouse
    wheel while it is closed; here a choice restarts a conversation or asks for a folder, so on a
    closed picker those keys open the list instead (a typed letter highlights the first item it
    starts), Enter or a click chooses, Esc leaves it as it was, and the wheel scrolls what is
    under the picker. A label too long for the picker is elided ("Persona's o…") and shown whole
    in its tooltip. The picker is as wide as its choice where there is room (the list is as wide
    as its longest item), and shrinks to `min_chars` characters where there is not."""

    def __init__(self, name: str, tip: str, min_chars: int = 7, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(name)
        self.setToolTip(tip)
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # the wheel does not take the focus either
        # a styled delegate: the style sheet's ::item rules (the highlighted item) apply to the list
        self.setItemDelegate(QStyledItemDelegate(self))
        self.min_chars = min_chars
        self.elided = False  # the label shown is cut short (paintEvent)
        self.currentTextChanged.connect(self.updateGeometry)

    def _chrome(self) -> int:
        """The width around the label: padding, border, the arrow (and a pixel each side)."""
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        opt.rect = QRect(0, 0, 400, 40)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        return 400 - field.width() + 4

    def _fits_choice(self) -> bool:
        return self.sizeAdjustPolicy() == QComboBox.SizeAdjustPolicy.AdjustToContents

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        if not self._fits_choice():
            return hint
        return QSize(self._chrome() + self.fontMetrics().horizontalAdvance(self.currentText()), hint.height())

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        if not self._fits_choice():
            return hint
        narrow = self._chrome() + self.fontMetrics().horizontalAdvance("x") * self.min_chars
        return QSize(min(self.sizeHint().width(), narrow), hint.height())

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self.view().isVisible() and not event.modifiers() & _NO_TYPING:
            text = event.text()
            if event.key() in _STEP_KEYS:
                self.showPopup()
                return
            if text and text.isprintable() and not text.isspace():
                self.showPopup()
                self.view().keyboardSearch(text)  # highlights, does not choose
                return
        super().keyPressEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        event.ignore()  # never a choice by accident: the wheel is for what is under the picker

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        opt = QStyleOptionComboBox()
        self.initStyleOption(opt)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, opt)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, self
        )
        text = self.fontMetrics().elidedText(opt.currentText, Qt.TextElideMode.ElideRight, field.width() - 2)
        self.elided = text != opt.currentText
        opt.currentText = text
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, opt)

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.elided:  # the whole label, then what it is for
            pos = event.globalPos()  # type: ignore[attr-defined]
            QToolTip.showText(pos, f"{self.currentText()}\n{self.toolTip()}", self)
            return True
        return super().event(event)


def _refit(control: QWidget) -> None:
    """A control's words changed: its bar (app.bottom_bar.BottomBar) decides now whether the
    full or the compact words fit, rather than showing the wrong ones until the next layout."""
    fit = getattr(control.parentWidget(), "fit", None)
    if callable(fit):
        fit()


class BarButton(QPushButton):
    """A bottom-bar button with one (full, compact) label per state, e.g. [("Mute", "Mute"),
    ("Muted", "Muted")]; `show_label(i)` shows state i, `set_compact` the short words. A `steady`
    button is as wide as its widest state, so it does not move while it is held or toggled."""

    def __init__(
        self,
        labels: Sequence[tuple[str, str]],
        tip: str,
        name: str,
        steady: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(labels[0][0], parent)
        self._labels = list(labels)
        self._which = 0
        self._steady = steady
        self.compact = False
        self.setToolTip(tip)
        self.setAccessibleName(name)

    def show_label(self, which: int) -> None:
        self._which = which
        self.setText(self.label(self.compact))
        _refit(self)

    def set_compact(self, on: bool) -> None:
        if on != self.compact:
            self.compact = on
            self.setText(self.label(on))

    def label(self, compact: bool) -> str:
        return self._labels[self._which][1 if compact else 0]

    def full_text(self) -> str:
        return self.label(False)

    def text_width(self, text: str) -> int:
        """The width QPushButton.sizeHint gives for `text` (no icon, no menu)."""
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        opt.text = text
        size = self.fontMetrics().size(Qt.TextFlag.TextShowMnemonic, text)
        opt.rect.setSize(size)
        return self.style().sizeFromContents(QStyle.ContentsType.CT_PushButton, opt, size, self).width()

    def width_for(self, compact: bool) -> int:
        texts = [p[1 if compact else 0] for p in self._labels] if self._steady else [self.label(compact)]
        return max(self.text_width(t) for t in texts)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(max(hint.width(), self.width_for(self.compact)), hint.height())

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()


class BarLabel(QLabel):
    """A bottom-bar label with a full and a compact text ("● REC 0:12" / "● 0:12")."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._texts = ("", "")
        self.compact = False

    def set_texts(self, full: str, short: str) -> None:
        if (full, short) == self._texts:
            return
        self._texts = (full, short)
        self.setText(short if self.compact else full)
        _refit(self)

    def set_compact(self, on: bool) -> None:
        if on != self.compact:
            self.compact = on
            self.setText(self._texts[1] if on else self._texts[0])

    def full_text(self) -> str:
        return self._texts[0]

    def width_for(self, compact: bool) -> int:
        fm = self.fontMetrics()
        extra = self.sizeHint().width() - fm.horizontalAdvance(self.text())  # margins, padding
        return extra + fm.horizontalAdvance(self._texts[1] if compact else self._texts[0])

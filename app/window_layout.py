"""How the main window is laid out: the top bar (pickers, HUD, fullscreen), the devices panel and
the bottom bar (state, level, mute, push-to-talk, interrupt, record, text box; app/bottom_bar.py
fits it to the window's width).

A mixin of MainWindow: it creates the widgets as attributes and connects them to the window's
handlers (`_weights_clicked`, `_toggle_hud`, `_set_muted`, ...), which live in window.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from .bottom_bar import BottomBar
from .controls import BarButton, BarLabel, PickerCombo
from .widgets import StatePill, form_grid, tool_button

if TYPE_CHECKING:
    from .core import DuetCore
    from .settings import Settings


class TopBar(QFrame):
    """The top bar; on a window too narrow for everything at its full width, the "Duet" brand
    makes way first (then the pickers elide their labels)."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("topBar")
        self.brand = QLabel("Duet")
        self.brand.setObjectName("brand")

    def fit(self) -> None:
        lay = self.layout()
        if lay is None:
            return
        brand = self.brand.sizeHint().width() + 12 + lay.spacing()  # its width, spacing and gap
        others = lay.sizeHint().width() - (brand if self.brand.isVisible() else 0)
        self.brand.setVisible(self.width() >= others + brand)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LayoutRequest:  # "Weights…" showed or hid
            self.fit()
        return super().event(event)


class WindowLayout:
    settings: Settings
    core: DuetCore

    if TYPE_CHECKING:  # the window's handlers (window.py) that these widgets connect to

        def _weights_clicked(self) -> None: ...
        def _fill_pickers(self) -> None: ...
        def _send_text(self) -> None: ...
        def _set_muted(self, muted: bool) -> None: ...
        def _set_ptt_mode(self, on: bool) -> None: ...
        def _set_ptt(self, down: bool) -> None: ...
        def _talk_button_released(self) -> None: ...
        def _toggle_hud(self, on: bool) -> None: ...
        def toggle_fullscreen(self) -> None: ...
        def rescan_devices(self) -> None: ...
        def _set_recording(self, on: bool) -> None: ...

    def _build_top_bar(self) -> QWidget:
        bar = TopBar()
        h = QHBoxLayout(bar)
        h.setContentsMargins(16, 8, 16, 8)
        h.setSpacing(6)
        h.addWidget(bar.brand)
        h.addSpacing(12)
        self.model_combo = PickerCombo("Model", "Model: the engine that hears, thinks and draws", 4)
        self.persona_combo = PickerCombo("Persona", "Persona: who the avatar is and what it knows", 4)
        self.avatar_combo = PickerCombo("Avatar", "Avatar: how it looks", 4)
        self.weights_button = tool_button("Weights…", "", self._weights_clicked)  # tip: the folder
        self.weights_button.setAccessibleName("Model weights folder")
        for title, combo in (
            ("Model", self.model_combo),
            ("Persona", self.persona_combo),
            ("Avatar", self.avatar_combo),
        ):
            label = QLabel(title)
            label.setBuddy(combo)
            h.addWidget(label)
            h.addWidget(combo)
            if combo is self.model_combo:
                h.addWidget(self.weights_button)  # only shown for models that load trained weights
        h.addStretch(1)
        self.camera_combo = PickerCombo("Camera", "Camera: what the avatar sees of you", min_chars=10)
        self.mic_combo = PickerCombo("Microphone", "Microphone: what the avatar hears", min_chars=10)
        self.speaker_combo = PickerCombo("Speaker", "Speaker: where the avatar's voice plays", min_chars=10)
        self.hud_button = tool_button("HUD", "Latency HUD (Ctrl+H)", self._toggle_hud, checkable=True)
        self.hud_button.setAccessibleName("Latency HUD")
        h.addWidget(self.hud_button)
        self.full_button = tool_button(
            "Fullscreen",
            "Full screen (F11; Esc leaves). F1 lists the keyboard shortcuts",
            self.toggle_fullscreen,
        )
        self.full_button.setAccessibleName("Full screen")
        h.addWidget(self.full_button)
        self._fill_pickers()
        return bar

    def _build_devices(self) -> QWidget:
        box = QWidget()
        box.setObjectName("devicesBox")
        rows = (
            ("Camera", self.camera_combo),
            ("Microphone", self.mic_combo),
            ("Speaker", self.speaker_combo),
        )
        for _, combo in rows:
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        grid = form_grid(box, rows)
        self.refresh_button = QPushButton("Rescan devices")
        self.refresh_button.setToolTip("Look for newly plugged cameras, microphones and speakers")
        self.refresh_button.clicked.connect(self.rescan_devices)
        grid.addWidget(self.refresh_button, 3, 1)
        return box

    def _build_bottom_bar(self) -> QWidget:
        self.bottom_bar = bar = BottomBar()
        self.state_pill = StatePill()
        self.untrained_badge = BarLabel()
        self.untrained_badge.set_texts("untrained model", "untrained")
        self.untrained_badge.setObjectName("badge")
        self.untrained_badge.setToolTip("This model has no trained weights: expect noise, not conversation")
        self.untrained_badge.setAccessibleName("Untrained model")
        self.untrained_badge.hide()
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setToolTip("Microphone level: how loud the avatar hears you")
        self.level.setAccessibleName("Microphone level")
        self.level.setAccessibleDescription("How loud the avatar hears you (nothing while muted)")
        self.mute_button = BarButton(
            [("Mute", "Mute"), ("Muted", "Muted")],
            "Mute your microphone: the avatar hears nothing until you unmute (Ctrl+M)",
            "Mute microphone",
            steady=True,
        )
        self.mute_button.setObjectName("danger")
        self.mute_button.setCheckable(True)
        self.mute_button.toggled.connect(self._set_muted)
        self.ptt_toggle = BarButton(
            [("Push-to-talk", "PTT")],
            "Push-to-talk: the avatar hears you only while Space or “Hold to talk” is held (Ctrl+T)",
            "Push-to-talk",
        )
        self.ptt_toggle.setCheckable(True)
        self.ptt_toggle.toggled.connect(self._set_ptt_mode)
        self.talk_button = BarButton(
            [("Hold to talk", "Talk"), ("Talking…", "Talk")],
            "Hold this (or Space, outside a text field) while you speak",
            "Hold to talk",
            steady=True,
        )
        self.talk_button.setObjectName("talk")
        self.talk_button.pressed.connect(lambda: self._set_ptt(True))
        # let go with the mouse while Space still holds the turn: Space's release ends it
        self.talk_button.released.connect(self._talk_button_released)
        self.talk_button.setVisible(False)
        self.stop_button = BarButton(
            [("Interrupt", "Interrupt")], "Stop the avatar now (Ctrl+I)", "Interrupt"
        )
        self.stop_button.clicked.connect(self.core.interrupt)
        self.record_button = BarButton(
            [("Record", "Rec"), ("Stop recording", "Stop rec")],
            "Record this session (your mic and camera, the avatar's voice and face, all events) "
            "into one .mkv file in the sessions folder, named with the RECORDING label (Ctrl+R)",
            "Record",
        )
        self.record_button.setObjectName("record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._set_recording)
        self.rec_indicator = BarLabel()  # "● REC 0:12" while a file is written
        self.rec_indicator.setObjectName("recIndicator")
        self.rec_indicator.setAccessibleName("Recording")
        self.rec_indicator.hide()
        self.text_box = QLineEdit()
        self.text_box.setPlaceholderText("Type to the avatar and press Enter…")
        self.text_box.setAccessibleName("Message to the avatar")
        self.text_box.setToolTip("Type a line and press Enter to send it. F1 lists the keyboard shortcuts")
        self.text_box.returnPressed.connect(self._send_text)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setToolTip("Send the typed line (Enter)")
        self.send_button.setAccessibleName("Send message")
        self.send_button.clicked.connect(self._send_text)
        bar.set_widgets(
            [
                self.state_pill,
                self.untrained_badge,
                self.level,
                self.mute_button,
                self.ptt_toggle,
                self.talk_button,
                self.stop_button,
                self.record_button,
                self.rec_indicator,
            ],
            self.text_box,
            self.send_button,
            fixed={self.level: (70, 44)},
        )
        self.ptt_toggle.setChecked(self.settings.push_to_talk)  # after the captions panel: it says how
        return bar

"""How the main window is laid out: the top bar (pickers, HUD, fullscreen), the devices panel and
the bottom bar (state, level, mute, push-to-talk, interrupt, record, text box).

A mixin of MainWindow: it creates the widgets as attributes and connects them to the window's
handlers (`_weights_clicked`, `_toggle_hud`, `_set_muted`, ...), which live in window.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

from .widgets import StatePill, form_grid, tool_button

if TYPE_CHECKING:
    from .core import DuetCore
    from .settings import Settings


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
        def _toggle_hud(self, on: bool) -> None: ...
        def toggle_fullscreen(self) -> None: ...
        def rescan_devices(self) -> None: ...
        def _set_recording(self, on: bool) -> None: ...

    def _combo(self, tip: str) -> QComboBox:
        c = QComboBox()
        c.setToolTip(tip)
        c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        return c

    def _build_top_bar(self) -> QWidget:
        bar = QFrame()
        bar.setObjectName("topBar")
        h = QHBoxLayout(bar)
        h.setContentsMargins(16, 8, 16, 8)
        h.setSpacing(8)
        brand = QLabel("Duet")
        brand.setObjectName("brand")
        h.addWidget(brand)
        h.addSpacing(12)
        self.model_combo = self._combo("Model (engine backend)")
        self.persona_combo = self._combo("Persona: who the avatar is")
        self.avatar_combo = self._combo("Avatar: how it looks")
        self.weights_button = tool_button("Weights…", "", self._weights_clicked)  # tip: the folder
        for title, combo in (
            ("Model", self.model_combo),
            ("Persona", self.persona_combo),
            ("Avatar", self.avatar_combo),
        ):
            h.addWidget(QLabel(title))
            h.addWidget(combo)
            if combo is self.model_combo:
                h.addWidget(self.weights_button)  # only shown for models that load trained weights
        h.addStretch(1)
        self.camera_combo = self._combo("Camera")
        self.mic_combo = self._combo("Microphone")
        self.speaker_combo = self._combo("Speaker")
        self.hud_button = tool_button("HUD", "Latency HUD (Ctrl+H)", self._toggle_hud, checkable=True)
        h.addWidget(self.hud_button)
        self.full_button = tool_button("Fullscreen", "Fullscreen (F11)", self.toggle_fullscreen)
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
        bar = QFrame()
        bar.setObjectName("bottomBar")
        h = QHBoxLayout(bar)
        h.setContentsMargins(16, 10, 16, 10)
        h.setSpacing(10)
        self.state_pill = StatePill()
        h.addWidget(self.state_pill)
        self.untrained_badge = QLabel("untrained model")
        self.untrained_badge.setObjectName("badge")
        self.untrained_badge.setToolTip("This model has no trained weights: expect noise, not conversation")
        self.untrained_badge.hide()
        h.addWidget(self.untrained_badge)
        self.level = QProgressBar()
        self.level.setRange(0, 100)
        self.level.setTextVisible(False)
        self.level.setFixedWidth(70)
        self.level.setToolTip("Microphone level")
        h.addWidget(self.level)
        self.mute_button = QPushButton("Mute")
        self.mute_button.setObjectName("danger")
        self.mute_button.setCheckable(True)
        self.mute_button.setToolTip("Mute your microphone: the avatar hears nothing until you unmute")
        self.mute_button.toggled.connect(self._set_muted)
        h.addWidget(self.mute_button)
        self.ptt_toggle = QPushButton("Push-to-talk")
        self.ptt_toggle.setCheckable(True)
        self.ptt_toggle.setToolTip("Only send the microphone while Space or 'Hold to talk' is held")
        self.ptt_toggle.toggled.connect(self._set_ptt_mode)
        h.addWidget(self.ptt_toggle)
        self.talk_button = QPushButton("Hold to talk")
        self.talk_button.pressed.connect(lambda: self._set_ptt(True))
        self.talk_button.released.connect(lambda: self._set_ptt(False))
        self.talk_button.setVisible(False)
        h.addWidget(self.talk_button)
        self.stop_button = QPushButton("Interrupt")
        self.stop_button.setToolTip("Stop the avatar now")
        self.stop_button.clicked.connect(self.core.interrupt)
        h.addWidget(self.stop_button)
        self.record_button = QPushButton("Record")
        self.record_button.setObjectName("record")
        self.record_button.setCheckable(True)
        self.record_button.setToolTip(
            "Record this session (your mic and camera, the avatar's voice and face, all events) "
            "into one .mkv file in the sessions folder"
        )
        self.record_button.toggled.connect(self._set_recording)
        h.addWidget(self.record_button)
        self.rec_indicator = QLabel()  # "● REC 0:12" while a file is written
        self.rec_indicator.setObjectName("recIndicator")
        self.rec_indicator.hide()
        h.addWidget(self.rec_indicator)
        self.text_box = QLineEdit()
        self.text_box.setPlaceholderText("Type to the avatar and press Enter…")
        self.text_box.returnPressed.connect(self._send_text)
        h.addWidget(self.text_box, 1)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.clicked.connect(self._send_text)
        h.addWidget(self.send_button)
        self.ptt_toggle.setChecked(self.settings.push_to_talk)  # after the captions panel: it says how
        return bar

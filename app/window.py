"""The main window: avatar stage (view + self-view + HUD overlays), captions, controls, pickers.

Widgets stay thin: state lives in DuetCore / Conversation; this file wires signals to widgets and
persists Settings.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication, QIcon, QImage
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from engine.protocol import Ready, SessionOpened

from . import catalog
from .audio_devices import label_of
from .brain_panel import BrainPanel
from .camera import CameraCapture
from .core import DuetCore
from .engine_faults import summary
from .fullscreen import FULLSCREEN_FIT_MS, FullscreenMixin, Subtitle
from .hud import Hud
from .input_view import InputViewMixin
from .keyboard import KeyboardMixin
from .mic import list_devices, rescan_devices
from .recording_view import RecordingViewMixin
from .settings import ModelSource, Settings
from .settings_save import SettingsSaveMixin
from .stage import Stage
from .study import StudyMixin
from .views import PainterView, make_avatar_view
from .widgets import Banner, CaptionPanel
from .window_layout import WindowLayout

log = logging.getLogger(__name__)
CAMERA_OFF = "__off__"
SETTINGS_SAVE_MS = 2000  # a changed setting is on disk within this long (a crash loses no more)
ROOMY_SCREEN_PX = 800  # on a screen less tall than this the Devices and Answers sections start folded


DEFAULT_SIZE = (1180, 760)  # the window's first size (pixels) where the screen has room
MIN_SIZE = (760, 440)  # the smallest the window gets, where the screen has room for that (the
# bottom bar's widest state, push-to-talk + recording + the "untrained" badge, needs ~736)


def min_size(available: tuple[int, int]) -> tuple[int, int]:
    """The window's minimum size on a screen with `available` room (logical pixels: a 1366x768
    screen at 150% has 910x512, less its panels): MIN_SIZE, or the screen where it is smaller."""
    return min(MIN_SIZE[0], available[0]), min(MIN_SIZE[1], available[1])


def first_size(available: tuple[int, int]) -> tuple[int, int]:
    """The window's size before any saved geometry: DEFAULT_SIZE, shrunk to the screen's available
    area (a small or scaled screen keeps the bottom bar on it), never under min_size."""
    low = min_size(available)
    return (
        max(low[0], min(DEFAULT_SIZE[0], available[0])),
        max(low[1], min(DEFAULT_SIZE[1], available[1])),
    )


def _sentence(text: str) -> str:
    """`text` as the start of a sentence ("streamer needs…" -> "Streamer needs…")."""
    return text[:1].upper() + text[1:]


class MainWindow(
    WindowLayout,
    KeyboardMixin,
    FullscreenMixin,
    RecordingViewMixin,
    InputViewMixin,
    StudyMixin,
    SettingsSaveMixin,
    QMainWindow,
):
    def __init__(
        self, core: DuetCore, settings: Settings, use_gl: bool | str = True, persist: bool = True
    ) -> None:
        super().__init__()
        self.persist = persist  # False: never write the settings file (benchmarks)
        self.core = core
        self.settings = settings
        self._devices_wired = False
        self._untrained: set[str] = set()  # models whose engine said Ready(trained=False)
        self.kiosk = False  # a booth's fullscreen that visitors cannot leave (start_kiosk)
        self._camera_note = ""  # device problems, shown under the stage (not in fullscreen)
        self._mic_note = ""
        self._speaker_note = ""
        self.setWindowTitle("Duet")
        icon = catalog.icon_path()
        if icon is not None:
            self.setWindowIcon(QIcon(str(icon)))
        available = self.screen().availableGeometry().size().toTuple()
        self.setMinimumSize(*min_size(available))
        self.resize(*first_size(available))
        central = QWidget()
        central.setObjectName("central")
        self.setCentralWidget(central)
        root = QVBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        self.top_bar = self._build_top_bar()
        root.addWidget(self.top_bar)

        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        left = QVBoxLayout()
        left.setContentsMargins(16, 12, 16, 12)
        left.setSpacing(10)
        self.banner = Banner()
        self.banner.retry.connect(core.retry)
        left.addWidget(self.banner)
        self.stage = Stage(make_avatar_view(use_gl))
        self.stage.view.presented.append(lambda t, _f: core.frame_presented(t))
        self._watch_view()
        left.addWidget(self.stage, 1)
        self.subtitle = Subtitle(core.conversation)  # fullscreen only: where the side panel was
        left.addWidget(self.subtitle)
        self.device_note = QLabel()
        self.device_note.setObjectName("deviceNote")
        self.device_note.setWordWrap(True)
        self.device_note.hide()
        left.addWidget(self.device_note)
        self.record_note = QLabel()  # "Saved: …/duet-….mkv" or why recording stopped
        self.record_note.setObjectName("recordNote")
        self.record_note.setWordWrap(True)
        self.record_note.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.record_note.hide()
        left.addWidget(self.record_note)
        body.addLayout(left, 1)
        self.captions = CaptionPanel(core.conversation)
        self._build_study()  # New conversation; the RECORDING section (label, file)
        # on a laptop screen the settings start folded: the conversation gets the room
        screen = QGuiApplication.primaryScreen()
        roomy = screen is None or screen.availableGeometry().height() >= ROOMY_SCREEN_PX
        self.captions.add_section("DEVICES", self._build_devices(), open_=roomy)
        self.brain_panel = BrainPanel(settings)
        self.brain_panel.applied.connect(self._brain_applied)
        self.captions.add_section("ANSWERS", self.brain_panel, open_=roomy)
        body.addWidget(self.captions)
        root.addLayout(body, 1)
        root.addWidget(self._build_bottom_bar())

        self.hud = Hud(core, self.stage)
        self.stage.hud = self.hud
        self.hud.setVisible(settings.hud)
        self.hud_button.setChecked(settings.hud)
        self._hud_timer = QTimer(self)
        self._hud_timer.setInterval(250)
        self._hud_timer.timeout.connect(self._refresh_live)
        self._hud_timer.start()
        self._saved_settings = Settings.saved_text() if persist else ""  # what the file holds
        self._settings_error = ""  # why the last save failed ("" = it did not)
        self._settings_timer = QTimer(self)
        self._settings_timer.setInterval(SETTINGS_SAVE_MS)
        self._settings_timer.timeout.connect(self.save_settings)
        if persist:
            self._settings_timer.start()

        self.camera = CameraCapture(core.push_frame, core.session_tick, self)
        self.camera.image_ready.connect(self._self_image)
        self.camera.message.connect(self._camera_message)
        self.camera.devices_changed.connect(self._fill_cameras)

        core.frame_due.connect(self._show_frame)
        core.status.connect(self.banner.show_status)
        core.ready.connect(self._on_ready)
        core.model_changed.connect(self._model_changed)
        core.source_reverted.connect(self._source_reverted)
        core.mic_message.connect(self._mic_message)
        core.speaker_message.connect(self._speaker_message)
        core.conversation.state_changed.connect(self.state_pill.set_state)
        core.session_opened.connect(self._session_opened)
        core.recording.changed.connect(self._recording_changed)
        core.recording.finished.connect(self._recording_finished)
        core.recording.disk_low.connect(lambda text: self._show_record_note("warn", text))
        core.recording.space.connect(self._recording_space)

        self._add_shortcuts()

        self._normal_geometry = None  # the window's geometry before fullscreen (FullscreenMixin)
        self._normal_rect = None
        if settings.geometry:
            self.restoreGeometry(QByteArray.fromHex(settings.geometry.encode()))
            if self.isFullScreen():  # saved in fullscreen by an older Duet: fit it (a kiosk)
                QTimer.singleShot(FULLSCREEN_FIT_MS, self._fit_screen)
        self._fill_devices()
        self.text_box.setFocus()  # typing goes to the avatar at once; a picker never takes a key by surprise

    def _fill_pickers(self) -> None:
        s = self.settings
        fills = (
            (
                self.model_combo,
                catalog.models(current=s.model),
                s.model,
            ),
            (self.persona_combo, catalog.personas(), s.persona),
            (self.avatar_combo, catalog.avatars(), s.avatar),
        )
        for combo, choices, current in fills:
            combo.blockSignals(True)
            combo.clear()
            for c in catalog.with_current(choices, current):
                combo.addItem(c.label, c.id)
                combo.setItemData(combo.count() - 1, c.tooltip, Qt.ItemDataRole.ToolTipRole)
            idx = combo.findData(current)
            combo.setCurrentIndex(max(idx, 0))
            combo.blockSignals(False)
            combo.updateGeometry()  # (its size follows its choice: no signal said it changed)
        self._refresh_model_labels()
        self.model_combo.currentIndexChanged.connect(self._model_picked)
        self.persona_combo.currentIndexChanged.connect(self._persona_picked)
        self.avatar_combo.currentIndexChanged.connect(self._avatar_picked)

    def _fill_devices(self) -> None:
        self._fill_cameras()
        for combo, kind, attr in (
            (self.mic_combo, "input", "mic_device"),
            (self.speaker_combo, "output", "speaker_device"),
        ):
            current = getattr(self.settings, attr)
            combo.blockSignals(True)
            combo.clear()
            combo.addItem("System default", "")
            for name in list_devices(kind):
                combo.addItem(name, name)
            idx = combo.findData(current)
            label = label_of(current, kind) if idx < 0 and current else None
            if label is not None:  # a bare name an older Duet saved: the device it opens, saved so
                idx = combo.findData(label)
                log.info("%s %r is saved as %r from now on (the same device)", kind, current, label)
                setattr(self.settings, attr, label)
            if idx < 0 and current:
                combo.addItem(f"{current} (missing)", current)
                idx = combo.count() - 1
            combo.setCurrentIndex(max(idx, 0))
            combo.blockSignals(False)
            combo.updateGeometry()  # (its size follows its choice: no signal said it changed)
        if not self._devices_wired:
            self._devices_wired = True
            self.mic_combo.currentIndexChanged.connect(self._mic_picked)
            self.speaker_combo.currentIndexChanged.connect(self._speaker_picked)
            self.camera_combo.currentIndexChanged.connect(self._camera_picked)

    def _fill_cameras(self) -> None:
        combo = self.camera_combo
        combo.blockSignals(True)
        combo.clear()
        cams = CameraCapture.devices()
        for dev_id, desc in cams:
            combo.addItem(desc, dev_id)
        if not cams:
            combo.addItem("No camera", CAMERA_OFF)
        else:
            combo.addItem("Off", CAMERA_OFF)
        want = self.settings.camera if self.settings.camera_enabled else CAMERA_OFF
        idx = combo.findData(want)
        combo.setCurrentIndex(max(idx, 0))
        combo.blockSignals(False)
        combo.updateGeometry()  # (its size follows its choice: no signal said it changed)

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        model = self.core.model
        problem = catalog.weights_problem(model, self.core.source(model))
        fallback = Settings().model
        if problem and model != fallback:  # e.g. saved weights were forgotten: never start a failure
            self.core.model = fallback
            self._model_changed(fallback)
            self.core.notify("warn", f"{_sentence(problem)}. Started {fallback} instead.")
        self.core.start()
        self.stage.self_view.hide()  # shown with the first camera frame
        if self.settings.camera_enabled:
            self.camera.start(self.settings.camera)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._watch_space(False)
        self._hud_timer.stop()
        self.settings.hud = self.hud.isVisible()
        self._settings_timer.stop()
        self.save_settings()
        self.camera.stop()
        self.core.shutdown()
        self.stage.view.close_view()
        super().closeEvent(event)

    # ------------------------------------------------------------------ slots
    def _show_frame(self, frame: np.ndarray) -> None:
        self.stage.view.set_frame(frame)

    GL_GRACE_S = 3.0  # frames given to a visible GL view this long without one drawn: fall back

    def _watch_view(self) -> None:
        """If the GL view never draws while visible, swap in the QPainter view. Polled once a second
        until the first draw; the grace period counts from the first frame seen while visible (the
        first draw also compiles shaders, slow on a cold software rasterizer)."""
        self._gl_waiting_since: float | None = None
        if self.stage.view.kind == "vispy":
            QTimer.singleShot(1000, self._check_gl)

    def _check_gl(self) -> None:
        view = self.stage.view
        if view.kind != "vispy" or getattr(view, "draws", 1) > 0:
            return  # drawing (or already replaced): stop watching
        if not (self.isVisible() and view.frames_set > 0):
            self._gl_waiting_since = None
        elif self._gl_waiting_since is None:
            self._gl_waiting_since = time.monotonic()
        elif time.monotonic() - self._gl_waiting_since >= self.GL_GRACE_S:
            log.warning("OpenGL view did not draw: falling back to the QPainter view")
            self.use_painter_view()
            return
        QTimer.singleShot(1000, self._check_gl)

    def use_painter_view(self) -> None:
        self.stage.set_view(PainterView())
        self.stage.view.presented.append(lambda t, _f: self.core.frame_presented(t))
        if self.stage.view.last_frame is not None:
            self.stage.view.set_frame(self.stage.view.last_frame)

    def _on_ready(self, ready: Ready) -> None:
        self.untrained_badge.setVisible(not ready.trained)
        if ready.trained:
            self._untrained.discard(ready.model)
        else:
            self._untrained.add(ready.model)
        self._refresh_model_labels()

    def _model_note(self, model: str) -> str:
        """What the model picker says after a model's name: untrained / needs weights / nothing."""
        if model in self._untrained:
            return "untrained"
        if not catalog.needs_weights(model):
            return ""
        source = self.settings.source(model)
        if source.weights:
            return ""
        return "untrained" if catalog.runs_untrained(source) else "needs weights"

    def _refresh_model_labels(self) -> None:
        combo = self.model_combo
        for i in range(combo.count()):
            model = combo.itemData(i)
            note = self._model_note(model)
            combo.setItemText(i, model + (f" ({note})" if note else ""))
        self._update_weights_button()

    def _update_weights_button(self) -> None:
        model = self.model_combo.currentData() or ""
        self.weights_button.setVisible(catalog.needs_weights(model))
        weights = self.settings.source(model).weights
        self.weights_button.setToolTip(
            f"Trained weights for {model}: {weights or 'none'}\n"
            "Choose a folder holding config.json + model.safetensors (duet-engine train --out DIR)"
        )

    def _select_model(self, model: str) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        idx = combo.findData(model)
        if idx < 0:
            combo.addItem(model, model)
            idx = combo.count() - 1
        combo.setCurrentIndex(idx)
        combo.blockSignals(False)
        combo.updateGeometry()  # (its size follows its choice: no signal said it changed)
        self._update_weights_button()

    def _model_changed(self, model: str) -> None:
        """The core runs `model` now (picked here, or a fall back after a failed start). A model
        standing in for one that could not load is not saved as the choice (core.stand_in_for)."""
        if not self.core.stand_in_for:
            self.settings.model = model
        self._select_model(model)

    def _source_reverted(self, model: str, source: ModelSource) -> None:
        """Weights/options given for `model` failed to load: the saved ones are what it had before."""
        self.settings.set_source(model, source)
        self._refresh_model_labels()

    def _ask_weights_folder(self, model: str) -> str:
        """The folder dialog; "" when cancelled."""
        current = self.settings.source(model).weights
        start = current if current and Path(current).is_dir() else str(Path.home())
        return QFileDialog.getExistingDirectory(
            self, f"Folder with trained {model} weights (config.json + model.safetensors)", start
        )

    def _use_weights(self, model: str, folder: str) -> str:
        """Save `folder` as `model`'s weights and give them to the core; the problem if unusable."""
        weights, problem = catalog.normalize_weights(folder)
        if problem:
            return problem
        source = replace(self.settings.source(model), weights=weights, revision="")
        self.settings.set_source(model, source)
        self.core.set_source(model, source)  # restarts the engine if it runs `model`
        self._untrained.discard(model)  # until its engine says otherwise
        self._refresh_model_labels()
        return ""

    def _weights_clicked(self) -> None:
        model = self.model_combo.currentData()
        folder = self._ask_weights_folder(model)
        if folder:
            problem = self._use_weights(model, folder)
            if problem:
                self.core.notify("warn", _sentence(problem))

    def _send_text(self) -> None:
        if self.core.send_text(self.text_box.text()):
            self.text_box.clear()

    def _toggle_hud(self, on: bool) -> None:
        self.hud.setVisible(on)
        self.settings.hud = on
        if on:
            self.hud.refresh()
            self.stage._layout()

    def _refresh_live(self) -> None:
        # the meter shows what the avatar hears: nothing while muted or push-to-talk is not held
        heard = self._mic_heard()
        self.level.setValue(min(100, int(self.core.assembler.level * 400)) if heard else 0)
        self._refresh_recording()
        if self.hud.isVisible():
            self.hud.refresh()
            self.hud.adjustSize()

    def _model_picked(self) -> None:
        model = self.model_combo.currentData()
        problem = catalog.weights_problem(model, self.core.source(model))
        failed = self.core.load_failures.get(model, "")
        if not problem and failed and catalog.needs_weights(model):  # its weights did not load last time
            problem = f"The {model} model could not load its weights ({summary(failed)})"
        if problem:  # ask for the folder now; without one, stay on the model that runs
            folder = self._ask_weights_folder(model)
            if folder:
                problem = self._use_weights(model, folder)
            elif not failed:  # said for the window (weights_problem speaks command-line)
                problem = (
                    f"The {model} model needs trained weights: a folder with config.json and"
                    " model.safetensors (training makes one; none is published yet)"
                )
            if problem:
                self._select_model(self.core.model)
                self.core.notify(
                    "warn",
                    f"{_sentence(problem)}. Still running {self.core.model}: pick {model} again to"
                    " choose a folder.",
                )
                return
        self.settings.model = model
        self._update_weights_button()
        self.untrained_badge.hide()
        self.core.conversation.clear()
        self.core.switch_model(model)

    def _persona_picked(self) -> None:
        self.settings.persona = self.persona_combo.currentData()
        self.core.update_session(persona=self.settings.persona)

    def _session_opened(self, opened: SessionOpened) -> None:
        """Name the avatar's bubbles after the avatar the session shows ("Ada")."""
        names = {c.id: c.label for c in catalog.avatars() if c.id}
        self.captions.set_avatar_name(names.get(opened.avatar, opened.avatar.capitalize() or "Avatar"))

    def _brain_applied(self, changes: dict) -> None:
        self.core.update_session(**changes)

    def _avatar_picked(self) -> None:
        self.settings.avatar = self.avatar_combo.currentData()
        self.core.update_session(avatar=self.settings.avatar)

    def _camera_picked(self) -> None:
        dev = self.camera_combo.currentData()
        if dev == CAMERA_OFF:
            self.settings.camera_enabled = False
            self.camera.stop()
            self.stage.self_view.hide()
            self._camera_message("")
        else:
            self.settings.camera_enabled = True
            self.settings.camera = dev
            self.camera.start(dev)

    def _mic_picked(self) -> None:
        self.settings.mic_device = self.mic_combo.currentData()
        self.core.set_mic(self.settings.mic_device)

    def _speaker_picked(self) -> None:
        self.settings.speaker_device = self.speaker_combo.currentData()
        self.core.set_speaker(self.settings.speaker_device)

    def _flash(self, text: str, ms: int = 4000) -> None:
        """A passing note in the banner: gone after `ms` unless something replaced it."""
        self.banner.show_status("info", text)

        def clear() -> None:
            if self.banner.level == "info" and self.banner.label.text() == text:
                self.banner.show_status("", "")

        QTimer.singleShot(ms, clear)

    def rescan_devices(self) -> None:
        """Re-list devices (PortAudio needs a re-init with all streams closed) and reopen them."""
        self.core.close_mic()
        self.core.player.stop()
        rescanned = rescan_devices()
        self.core.set_speaker(self.settings.speaker_device)
        self.core.set_mic(self.settings.mic_device)
        self._fill_devices()
        if rescanned:
            mics, speakers = len(list_devices("input")), len(list_devices("output"))
            self._flash(f"Devices rescanned: {_count(mics, 'microphone')}, {_count(speakers, 'speaker')}.")
        else:
            self.core.notify(
                "warn",
                "A sound device stopped answering and could not be closed: restart Duet to see new"
                " devices (the ones it knows are opened again).",
            )

    def _self_image(self, image: QImage) -> None:
        """The self-view appears with the first camera frame (hidden while there is no camera)."""
        sv = self.stage.self_view
        if self.settings.self_view and not sv.isVisible():
            sv.show()
            self.stage._layout()
        sv.show_image(image)

    def _camera_message(self, text: str) -> None:
        self._camera_note = text
        if text:
            self.stage.self_view.hide()
        self._update_note()

    def _mic_message(self, text: str) -> None:
        self._mic_note = text
        self._update_note()

    def _speaker_message(self, text: str) -> None:
        self._speaker_note = text
        self._update_note()

    def _update_note(self) -> None:
        notes = [n for n in (self._mic_note, self._speaker_note, self._camera_note) if n]
        self.device_note.setText("\n".join(notes))
        # for the operator, not a booth's visitors: not in fullscreen
        self.device_note.setVisible(bool(notes) and not self.isFullScreen())
        self._update_record_note()


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" + ("" if n == 1 else "s")

"""The window's side of recording: the Record button (Ctrl+R), the "● REC m:ss LABEL" indicator
(its accessible name and tooltip name the file), and the note under the stage ("Saved: PATH", why
recording stopped, disk space low, recording paused for disk space and resumed; in fullscreen
"Saved: PATH" shows for a while over the stage instead, not in a kiosk).

RecordingViewMixin is a mixin of MainWindow (window.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QMainWindow

from engine.session import label_slug

if TYPE_CHECKING:
    from .controls import BarButton, BarLabel
    from .core import DuetCore
    from .stage import Stage
    from .widgets import CaptionPanel

    _Base = QMainWindow
else:
    _Base = object

RECORD_NOTE_S = 10  # "Saved: ... recording goes on in a new file" shows this long (s)
INDICATOR_LABEL_CHARS = 14  # the label shown beside "● REC m:ss" (longer ones are cut: "P03-cond…")


class RecordingViewMixin(_Base):
    # MainWindow's (window.py, window_layout.py)
    core: DuetCore
    record_button: BarButton
    rec_indicator: BarLabel
    record_note: QLabel
    stage: Stage
    kiosk: bool
    captions: CaptionPanel

    if TYPE_CHECKING:  # study.py

        def _show_file_name(self) -> None: ...

    # ------------------------------------------------------------------ recording
    def _set_recording(self, on: bool) -> None:
        if on:
            self._show_record_note("", "")
            self.captions.sections["RECORDING"].setChecked(True)  # its label and file name
        elif self.core.recording.paused:  # Stop while paused: no longer waiting for space
            self._show_record_note("", "")
        self.core.recording.set_wanted(on)
        self._refresh_recording()

    def _recording_changed(self) -> None:
        rec = self.core.recording
        if self.record_button.isChecked() != rec.wanted:  # stopped by an error
            self.record_button.blockSignals(True)
            self.record_button.setChecked(rec.wanted)
            self.record_button.blockSignals(False)
        self._refresh_recording()

    def _refresh_recording(self) -> None:
        rec = self.core.recording
        ind = self.rec_indicator
        if rec.recording:
            s = int(rec.elapsed_s())
            label = label_slug(rec.file_label)
            if len(label) > INDICATOR_LABEL_CHARS:
                label = label[: INDICATOR_LABEL_CHARS - 1] + "…"
            clock = f"{s // 60}:{s % 60:02d}"
            ind.set_texts(f"● REC {clock}" + (f" {label}" if label else ""), f"● {clock}")
            current = rec.current
            path = current.path if current is not None else None
            ind.setToolTip(f"Recording to {path}" if path else "")
            name = f"Recording to {path.name}" if path else "Recording"
            if ind.accessibleName() != name:
                ind.setAccessibleName(name)
                ind.setAccessibleDescription(str(path.parent) if path else "")
        elif rec.paused:  # waiting for disk space (the note under the stage says how much)
            ind.set_texts("● REC paused: disk space", "● REC paused")
            ind.setToolTip(rec.paused)
            ind.setAccessibleName("Recording paused: not enough free disk space")
        elif rec.wanted:
            ind.set_texts("● REC waiting for the session…", "● REC …")
            ind.setToolTip("")
            ind.setAccessibleName("Recording: waiting for the session")
        ind.setVisible(rec.wanted)
        self.record_button.show_label(1 if rec.wanted else 0)
        self._show_file_name()

    def _recording_finished(self, path: str, error: str) -> None:
        if self.core.recording.paused:  # waiting for disk space: that note stays (the log has the rest)
            self._show_record_note("warn", self.core.recording.paused)
        elif error:  # logged by the Recorder
            self._show_record_note("error", f"Recording stopped: {error}. The conversation goes on.")
        elif self.core.recording.wanted:  # a switch or restart: the next file is on its way
            # news of the moment (the next file is the one that matters): gone after a while, so a
            # booth's screen does not keep a path and a stale "goes on" (the log keeps both)
            text = f"Saved: {path} — recording goes on in a new file"
            self._show_record_note("info", text)
            QTimer.singleShot(RECORD_NOTE_S * 1000, lambda: self._clear_record_note(text))
            self._toast_saved(path)
        else:
            self._show_record_note("info", f"Saved: {path}")
            self._toast_saved(path)

    def _recording_space(self, level: str, text: str) -> None:
        """Recording paused for disk space ("warn": stays until it resumes or is stopped) or
        resumed ("info": gone after RECORD_NOTE_S)."""
        self._show_record_note(level, text)
        if level == "info":
            QTimer.singleShot(RECORD_NOTE_S * 1000, lambda: self._clear_record_note(text))

    def _toast_saved(self, path: str) -> None:
        """In fullscreen the note under the stage is hidden: "Saved: PATH" shows over the stage for
        RECORD_NOTE_S instead (not in a kiosk: its visitors have no use for a path)."""
        if self.isFullScreen() and not self.kiosk:
            self.stage.show_toast(f"Saved: {path}", RECORD_NOTE_S * 1000)

    def _clear_record_note(self, text: str) -> None:
        if self.record_note.text() == text:
            self._show_record_note("", "")

    def _show_record_note(self, level: str, text: str) -> None:
        self.record_note.setProperty("level", level)
        self.record_note.style().unpolish(self.record_note)
        self.record_note.style().polish(self.record_note)
        self.record_note.setText(text)
        self._update_record_note()

    def _update_record_note(self) -> None:
        """'Saved: PATH' is for the operator, not a booth's visitors: not under the stage in
        fullscreen (a toast says it there for a while; it shows again on leaving fullscreen); a
        problem (recording stopped, disk low) always shows."""
        info = self.record_note.property("level") == "info"
        self.record_note.setVisible(bool(self.record_note.text()) and not (info and self.isFullScreen()))

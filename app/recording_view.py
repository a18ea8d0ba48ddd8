"""The window's side of recording: the Record button, the "● REC m:ss" indicator, and the note
under the stage ("Saved: PATH", why recording stopped, disk space low).

RecordingViewMixin is a mixin of MainWindow (window.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QMainWindow

if TYPE_CHECKING:
    from .controls import BarButton, BarLabel
    from .core import DuetCore

    _Base = QMainWindow
else:
    _Base = object

RECORD_NOTE_S = 10  # "Saved: ... recording goes on in a new file" shows this long (s)


class RecordingViewMixin(_Base):
    # MainWindow's (window.py, window_layout.py)
    core: DuetCore
    record_button: BarButton
    rec_indicator: BarLabel
    record_note: QLabel

    # ------------------------------------------------------------------ recording
    def _set_recording(self, on: bool) -> None:
        if on:
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
        if rec.recording:
            s = int(rec.elapsed_s())
            self.rec_indicator.set_texts(f"● REC {s // 60}:{s % 60:02d}", f"● {s // 60}:{s % 60:02d}")
            current = rec.current
            self.rec_indicator.setToolTip(f"Recording to {current.path}" if current and current.path else "")
        elif rec.wanted:
            self.rec_indicator.set_texts("● REC waiting for the session…", "● REC …")
            self.rec_indicator.setToolTip("")
        self.rec_indicator.setVisible(rec.wanted)
        self.record_button.show_label(1 if rec.wanted else 0)

    def _recording_finished(self, path: str, error: str) -> None:
        if error:  # logged by the Recorder
            self._show_record_note("error", f"Recording stopped: {error}. The conversation goes on.")
        elif self.core.recording.wanted:  # a switch or restart: the next file is on its way
            # news of the moment (the next file is the one that matters): gone after a while, so a
            # booth's screen does not keep a path and a stale "goes on" (the log keeps both)
            text = f"Saved: {path} — recording goes on in a new file"
            self._show_record_note("info", text)
            QTimer.singleShot(RECORD_NOTE_S * 1000, lambda: self._clear_record_note(text))
        else:
            self._show_record_note("info", f"Saved: {path}")

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
        """'Saved: PATH' is for the operator, not a booth's visitors: not in fullscreen (it shows
        again on leaving it); a problem (recording stopped, disk low) always shows."""
        info = self.record_note.property("level") == "info"
        self.record_note.setVisible(bool(self.record_note.text()) and not (info and self.isFullScreen()))

"""The window's tools for running a study: the recording's label (participant, condition) and the
file being written (the side panel's RECORDING section), and "New conversation" (the conversation
panel's title row, Ctrl+N): the panel is cleared and the engine session reopened, so the avatar
starts over with no memory of the last participant; a recording ends its file and goes on in a new
one (not linked to the last by `continues`).

StudyMixin is a mixin of MainWindow (window.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QMainWindow, QToolButton, QWidget

from engine.session import label_slug
from engine.session.naming import MAX_LABEL_CHARS

from .widgets import form_grid

if TYPE_CHECKING:
    from .core import DuetCore
    from .stage import Stage
    from .widgets import CaptionPanel

    _Base = QMainWindow
else:
    _Base = object

NEW_CONVERSATION_NOTE_MS = 2500  # "New conversation" shows this long over the stage


class StudyMixin(_Base):
    core: DuetCore
    captions: CaptionPanel
    stage: Stage

    def _build_study(self) -> None:
        """The New conversation button in the conversation's title row, and the RECORDING section."""
        self.new_button = QToolButton()
        self.new_button.setObjectName("headerButton")
        self.new_button.setText("New conversation")
        self.new_button.setToolTip(
            "Start over (Ctrl+N): the conversation is cleared and the avatar forgets it. While"
            " recording, the file ends and recording goes on in a new one"
        )
        self.new_button.setAccessibleName("New conversation")
        self.new_button.clicked.connect(self.new_conversation)
        self.captions.title_row.addWidget(self.new_button)

        box = QWidget()
        box.setObjectName("recordingBox")
        self.label_edit = QLineEdit()
        self.label_edit.setMaxLength(MAX_LABEL_CHARS)
        self.label_edit.setPlaceholderText("e.g. P03-condB")
        self.label_edit.setAccessibleName("Recording label")
        self.label_edit.setToolTip(
            "Participant, condition, …: in the name and metadata of the files started from now on"
            " (the name keeps letters, digits, '-', '_' and '.')"
        )
        self.label_edit.textChanged.connect(self._label_changed)
        self.file_name = QLabel("Not recording")
        self.file_name.setObjectName("fileName")
        self.file_name.setWordWrap(True)
        self.file_name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.file_name.setAccessibleName("Recording file")
        form_grid(box, (("Label", self.label_edit), ("File", self.file_name)))
        # folded until recording starts (or --record/--label): a chat keeps the conversation's room
        self.captions.add_section("RECORDING", box, open_=False)

    def _label_changed(self, text: str) -> None:
        self.core.recording.set_label(text)
        self._show_file_name()

    def _show_file_name(self) -> None:
        """The RECORDING section's File row: the file being written, else what the next is called."""
        rec = self.core.recording
        current = rec.current
        if current is not None:
            path = current.path
            text = path.name if path is not None else f"{current.stem}.mkv"
            tip = f"Recording to {path or text}. A changed label applies from the next file"
        elif rec.paused:  # waiting for disk space: the note under the stage says how much
            text, tip = "Paused: not enough disk space", rec.paused
        else:
            slug = label_slug(rec.label)
            text = "Not recording" + (f" (next: duet-DATE-TIME-{slug}.mkv)" if slug else "")
            tip = f"Saved last: {rec.last_path}" if rec.last_path else ""
        if self.file_name.text() != text:
            self.file_name.setText(text)
        self.file_name.setToolTip(tip)

    def new_conversation(self) -> None:
        """Start over: clear the panel, reopen the engine session (the avatar forgets), and while
        recording end the file; recording goes on in a new one once the new session opens."""
        self.core.recording.new_conversation()
        self.core.conversation.clear()
        self.core.update_session()  # no change to the session: it is closed and opened again
        self.stage.show_toast("New conversation", NEW_CONVERSATION_NOTE_MS)

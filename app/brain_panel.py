"""The "Answers" panel: where the avatar's replies come from (persona script or a chat server).

A thin widget over the persisted settings (brain, llm_url, llm_model): "Apply" validates the
fields, saves them and emits `applied(SessionSpec changes)`; the window reopens the session with
them. An unreachable server is not an error here: the model answers from the persona script and
says so in the window.
"""

from __future__ import annotations

import urllib.parse

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton, QWidget

from .controls import PickerCombo
from .settings import Settings
from .widgets import form_grid

SCRIPT, LLM = "script", "llm"


def check_llm(url: str, model: str) -> str:
    """ "" if a chat server URL + model name are usable, else what is wrong (for the user)."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "Server URL must look like http://127.0.0.1:11434/v1"
    if not model.strip():
        return "Enter the model name the server knows (e.g. llama3.2)"
    return ""


class BrainPanel(QWidget):
    applied = Signal(dict)  # SessionSpec field changes: {"brain", "llm_url", "llm_model"}

    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.setObjectName("brainBox")
        self.kind = PickerCombo(
            "Answers from", "Answer from the persona's YAML script, or stream replies from a chat server"
        )
        self.kind.addItem("Persona script", SCRIPT)
        self.kind.addItem("Chat server (OpenAI API)", LLM)
        self.url = QLineEdit(settings.llm_url)
        self.url.setPlaceholderText("e.g. http://127.0.0.1:11434/v1")
        self.url.setToolTip("Base URL of an OpenAI-compatible server (Ollama, llama.cpp, vLLM…)")
        self.url.setAccessibleName("Chat server URL")
        self.model = QLineEdit(settings.llm_model)
        self.model.setPlaceholderText("e.g. llama3.2")
        self.model.setToolTip("The name the server knows the model by (e.g. llama3.2)")
        self.model.setAccessibleName("Chat model name")
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("Answer from this server and model (Enter in either field does too)")
        self.apply_button.setAccessibleName("Apply chat server")
        self.note = QLabel()
        self.note.setObjectName("fieldNote")
        self.note.setWordWrap(True)
        grid = form_grid(self, (("From", self.kind), ("Server", self.url), ("Chat model", self.model)))
        grid.addWidget(self.apply_button, 3, 1)
        grid.addWidget(self.note, 4, 0, 1, 2)
        self.kind.setCurrentIndex(1 if settings.brain == LLM and settings.llm_url else 0)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.apply_button.clicked.connect(self.apply)
        self.url.returnPressed.connect(self.apply)
        self.model.returnPressed.connect(self.apply)
        self._kind_changed()

    def _kind_changed(self) -> None:
        llm = self.kind.currentData() == LLM
        self.url.setEnabled(llm)
        self.model.setEnabled(llm)
        self.apply_button.setEnabled(llm)
        if not llm and self.settings.brain == LLM:
            self.apply()  # the script needs no fields: in effect at once, like the other pickers
        elif llm and self.settings.brain != LLM:
            self.note.setText("Enter the server and its model, then Apply.")
        else:
            self.note.setText("")

    def apply(self) -> bool:
        """Validate and save; True (and `applied` emitted) if the settings were taken."""
        brain = self.kind.currentData()
        url, model = self.url.text().strip(), self.model.text().strip()
        if brain == LLM:
            problem = check_llm(url, model)
            if problem:
                self.note.setText(problem)
                return False
        unchanged = self.settings.brain == brain and (
            brain != LLM or (self.settings.llm_url, self.settings.llm_model) == (url, model)
        )
        self.settings.brain = brain
        if brain == LLM:  # the script choice keeps the server fields for next time
            self.settings.llm_url, self.settings.llm_model = url, model
        self.note.setText(
            "Replies stream from the server; if it is down or slow, the persona script answers."
            if brain == LLM
            else "Replies come from the persona script."
        )
        if unchanged:
            return True  # nothing to reopen: the conversation stays
        spec = self.settings.session_spec()
        self.applied.emit({"brain": spec.brain, "llm_url": spec.llm_url, "llm_model": spec.llm_model})
        return True

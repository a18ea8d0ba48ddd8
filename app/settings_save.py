"""Writing the window's settings to settings.json: every SETTINGS_SAVE_MS and on close, only what
changed, and only what has worked (weights that have not loaded yet are saved as the ones before).
A failure is said once in the window and retried; a file that could not be read is never written.

SettingsSaveMixin is a mixin of MainWindow (window.py).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING

from .settings import Settings

if TYPE_CHECKING:
    from PySide6.QtCore import QByteArray

    from .core import DuetCore

log = logging.getLogger("app.window")


class SettingsSaveMixin:
    # MainWindow's (window.py)
    core: DuetCore
    settings: Settings
    persist: bool
    _saved_settings: str  # what the file holds (its text at the last write or at start)
    _settings_error: str  # why the last write failed ("" = it did not)

    if TYPE_CHECKING:

        def _windowed_geometry(self) -> QByteArray: ...

    def save_settings(self) -> None:
        """Write the settings if they changed since the last write (every SETTINGS_SAVE_MS and on
        close). A failure is said once in the window, and retried: the settings stay in memory."""
        if not self.persist or self.settings.read_only:
            return
        self.settings.geometry = bytes(self._windowed_geometry().toHex().data()).decode()
        saved = self._settings_to_save()
        text = saved.to_text()
        if text == self._saved_settings:
            return
        try:
            saved.save()
        except OSError as e:
            why = e.strerror or str(e)
            if why != self._settings_error:
                self._settings_error = why
                log.warning("cannot save settings: %s", e)
                # the note that the saved settings could not be read either stays in view
                read = f"{self.settings.load_note}\n" if self.settings.load_note else ""
                self.core.notify(
                    "warn",
                    f"{read}Your settings cannot be saved ({why}): changes last until Duet closes.",
                )
            return
        self._saved_settings, self._settings_error = text, ""

    def _settings_to_save(self) -> Settings:
        """The settings as they may be saved now: weights or options that have not loaded yet
        (core.untried) are saved as what the model had before, and a model started with them from
        the command line is not the saved choice until it loads (the model that ran before is): a
        crash, a power cut or a close during a long load leaves the last settings that worked."""
        untried = self.core.untried
        if not untried:
            return self.settings
        out = copy.deepcopy(self.settings)
        for model, before in untried.items():
            out.set_source(model, before)
        before_model = self.core.good_model
        if out.model in untried and before_model and before_model != out.model:
            out.model = before_model
        return out

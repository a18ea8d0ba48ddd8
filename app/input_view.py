"""The window's microphone input controls: Mute, Push-to-talk and the talk key/button, what the
state pill and level meter say about them, and a MicInput event in the recording at each change
(an analyst tells "the participant was silent" from "the microphone was muted").

InputViewMixin is a mixin of MainWindow (window.py); the buttons are made in window_layout.py and
Space is watched by keyboard.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMainWindow, QProgressBar

from engine.protocol import MicInput

from .widgets import EMPTY_HINT, EMPTY_HINT_PTT

if TYPE_CHECKING:
    from .controls import BarButton
    from .core import DuetCore
    from .settings import Settings
    from .widgets import CaptionPanel, StatePill

    _Base = QMainWindow
else:
    _Base = object


class InputViewMixin(_Base):
    core: DuetCore
    settings: Settings
    captions: CaptionPanel
    mute_button: BarButton
    talk_button: BarButton
    state_pill: StatePill
    level: QProgressBar
    _space_talking: bool  # keyboard.py: Space holds the turn

    if TYPE_CHECKING:

        def _watch_space(self, on: bool) -> None: ...

    def _set_muted(self, muted: bool) -> None:
        self.core.assembler.muted = muted
        self.mute_button.show_label(1 if muted else 0)
        self._show_input()

    def _set_ptt_mode(self, on: bool) -> None:
        # Space = push-to-talk (app/keyboard.py); keys are watched only while the mode is on
        if on != self.core.assembler.ptt_mode:
            self._watch_space(on)
        self.core.assembler.ptt_mode = on
        self._set_ptt(False)
        self.talk_button.setVisible(on)
        self.captions.empty_hint.setText(EMPTY_HINT_PTT if on else EMPTY_HINT)
        self.settings.push_to_talk = on

    def _talk_button_released(self) -> None:
        if not self._space_talking:  # let go while Space still holds the turn: Space's release ends it
            self._set_ptt(False)

    def _set_ptt(self, down: bool) -> None:
        self.core.assembler.ptt_down = down
        self.talk_button.show_label(1 if down else 0)
        self.talk_button.setDown(down)  # held by Space: it looks held too
        self._show_input()

    def _show_input(self) -> None:
        asm = self.core.assembler
        self.state_pill.set_input(asm.muted, asm.ptt_mode, asm.ptt_down)
        heard = self._mic_heard()
        self.level.setEnabled(heard)
        held = asm.ptt_mode and asm.ptt_down
        self.core.recording.set_input(MicInput(asm.muted, asm.ptt_mode, held, heard))  # on change only

    def _mic_heard(self) -> bool:
        """The avatar hears the microphone now: not muted, and in push-to-talk only while held."""
        asm = self.core.assembler
        return not asm.muted and not (asm.ptt_mode and not asm.ptt_down)

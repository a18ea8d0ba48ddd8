"""The audio devices of DuetCore: opening the microphone and speaker, noticing one that stopped or
stalled (unplugged, or the sound server died under it: its callback stops while PortAudio still
calls it active) and opening it again every REOPEN_S until it is back.

DevicesMixin is a mixin of DuetCore (core.py); everything runs on the GUI thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .mic import MicCapture, SilenceSource, TickAssembler
from .playback import AudioDeviceError, Player, StallWatch

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

log = logging.getLogger("app.core")  # (the log lines these always had)

REOPEN_S = 3.0  # a lost microphone or speaker is tried again this often (s)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class DevicesMixin:
    # DuetCore's (core.py)
    assembler: TickAssembler
    player: Player
    mic: MicCapture | SilenceSource | None
    mic_device: str
    mic_message: SignalInstance
    speaker_message: SignalInstance
    _reopen_at: dict[str, float]  # "mic"/"speaker" -> monotonic time of the next try to open it
    _speaker_watch: StallWatch
    _mic_watch: StallWatch
    _trouble: tuple[int, int, int]

    # ------------------------------------------------------------------ devices
    def _open_speaker(self) -> None:
        try:
            self.player.start()
            self.speaker_message.emit("")
        except AudioDeviceError as e:
            log.warning("%s", e)
            self.speaker_message.emit(f"{_cap(str(e))} — the avatar is muted.")

    def set_speaker(self, device: str) -> None:
        self._reopen_at.pop("speaker", None)
        self._speaker_watch.reset()
        self.player.stop()
        self.player.device = device or None
        self._open_speaker()

    def close_mic(self) -> None:
        if self.mic is not None:
            self.mic.stop()
            self.mic = None

    def _open_mic(self, device: str) -> None:
        self._reopen_at.pop("mic", None)
        self._mic_watch.reset()
        self.close_mic()
        self.mic_device = device
        mic = MicCapture(self.assembler, device or None)
        try:
            mic.start()
            self.mic = mic
            self.mic_message.emit("")
        except AudioDeviceError as e:
            log.warning("%s", e)
            self.mic = SilenceSource(self.assembler)
            self.mic.start()
            self.mic_message.emit(f"{_cap(str(e))} — type to talk, or pick another microphone.")

    def set_mic(self, device: str) -> None:
        self._open_mic(device)

    @property
    def mic_ok(self) -> bool:
        return isinstance(self.mic, MicCapture)

    def _log_device_trouble(self) -> None:
        now = (getattr(self.mic, "overflows", 0), self.player.status_flags, self.player.buffer.underruns)
        if now != self._trouble:
            log.info("audio: mic overflows %d, speaker underflows %d, playback underruns %d", *now)
            self._trouble = now

    def _check_devices(self, now: float) -> None:
        """A stream that stopped (unplugged) or whose callback stalled (the sound server died under
        it) is closed, the window says so, and it is opened again every REOPEN_S until it works."""
        mic = self.mic
        if isinstance(mic, MicCapture) and (not mic.running or self._mic_watch.stalled(mic.callbacks, now)):
            why = "stopped" if not mic.running else "stalled"
            log.warning("microphone stream %s: closing it, trying it again every %.0f s", why, REOPEN_S)
            self.close_mic()
            self.mic = SilenceSource(self.assembler)
            self.mic.start()
            self._reopen_at["mic"] = now + REOPEN_S
            self.mic_message.emit(
                "The microphone stopped (unplugged?) — trying it again; type to talk meanwhile, or pick"
                " a microphone / Rescan devices."
            )
        player = self.player
        if player._stream is not None and (
            not player.running or self._speaker_watch.stalled(player.callbacks, now)
        ):
            why = "stopped" if not player.running else "stalled"
            log.warning("speaker stream %s: closing it, trying it again every %.0f s", why, REOPEN_S)
            player.stop()
            self._reopen_at["speaker"] = now + REOPEN_S
            self.speaker_message.emit(
                "The speaker stopped (unplugged?) — trying it again; pick a speaker / Rescan devices."
            )
        for kind, due in list(self._reopen_at.items()):
            if now >= due:
                self._reopen(kind, now)

    def _reopen(self, kind: str, now: float) -> None:
        """One try to open a lost device again (the same one the user picked)."""
        if kind == "speaker":
            if self.player._stream is not None:  # picked again meanwhile
                self._reopen_at.pop(kind, None)
                return
            try:
                self.player.start()
            except AudioDeviceError as e:
                log.debug("speaker still unavailable: %s", e)
                self._reopen_at[kind] = now + REOPEN_S
                return
            self._speaker_watch.reset()
            log.warning("speaker is back")
            self.speaker_message.emit("")
        else:
            if isinstance(self.mic, MicCapture):
                self._reopen_at.pop(kind, None)
                return
            # one feeder at a time: the silence source stops before the microphone's callback starts
            self.close_mic()
            mic = MicCapture(self.assembler, self.mic_device or None)
            try:
                mic.start()
            except AudioDeviceError as e:
                log.debug("microphone still unavailable: %s", e)
                self.mic = SilenceSource(self.assembler)
                self.mic.start()
                self._reopen_at[kind] = now + REOPEN_S
                return
            self.mic = mic
            self._mic_watch.reset()
            log.warning("microphone is back")
            self.mic_message.emit("")
        self._reopen_at.pop(kind, None)

"""Settings reach the disk while the app runs (a crash loses at most SETTINGS_SAVE_MS of changes), a
file that cannot be written is said once in the window, and a failed write leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from app.settings import Settings
from app.window import SETTINGS_SAVE_MS

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot

    from app.window import MainWindow


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary_file() -> None:
    Settings(persona="booth").save()
    before = Settings.path().read_text()
    tmp = Settings.path().with_suffix(".tmp")
    tmp.mkdir()  # the temporary file cannot be written (as on a full disk)
    with pytest.raises(OSError):
        Settings(persona="guide").save()
    assert Settings.path().read_text() == before
    tmp.rmdir()
    Settings.path().unlink()
    Settings.path().mkdir()  # the file cannot be replaced: the temporary one is removed again
    with pytest.raises(OSError):
        Settings(persona="guide").save()
    assert not tmp.exists() and Settings.path().is_dir()


@pytest.mark.gui
def test_changes_are_saved_while_the_app_runs_and_a_failure_is_said_once(
    duet_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = duet_window("testecho", start=False)
    w.hud_button.setChecked(True)
    qtbot.waitUntil(lambda: Settings.path().exists() and Settings.load().hud, timeout=5_000)
    assert w.isVisible()  # saved without closing the window

    path = Settings.path()
    path.unlink()
    path.mkdir()  # settings.json cannot be replaced now
    w.ptt_toggle.setChecked(True)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=5_000)
    message = w.banner.label.text()
    assert message.startswith("Your settings cannot be saved (") and "until Duet closes" in message
    assert not path.with_suffix(".tmp").exists()
    w.banner.show_status("", "")  # dismissed
    failed: list[OSError] = []
    save = w.settings.save

    def counted_save() -> None:
        try:
            save()
        except OSError as e:
            failed.append(e)
            raise

    monkeypatch.setattr(w.settings, "save", counted_save)
    w.hud_button.setChecked(False)  # another change, the same failure: not said again
    qtbot.waitUntil(lambda: bool(failed), timeout=2 * SETTINGS_SAVE_MS + 5_000)  # it was tried
    assert not w.banner.isVisible()

    path.rmdir()  # writable again: the next round saves everything changed meanwhile
    qtbot.waitUntil(lambda: path.is_file(), timeout=5_000)
    saved = json.loads(path.read_text())
    assert saved["push_to_talk"] is True and saved["hud"] is False

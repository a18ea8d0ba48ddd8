"""The pickers' lists (app.catalog): a persona or avatar file that cannot be read is listed with the
reason, never stops the app; no Qt needed."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from app import catalog
from app.__main__ import persona_avatar_problem
from engine import paths


@pytest.fixture
def assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped assets, used by everything that looks for them."""
    folder = tmp_path / "assets"
    shutil.copytree(paths.assets_dir(), folder)
    monkeypatch.setenv("DUET_ASSETS_DIR", str(folder))
    return folder


def test_files_that_cannot_be_read_are_listed_with_the_reason(
    assets: Path, caplog: pytest.LogCaptureFixture
) -> None:
    persona = assets / "personas" / "latin.yaml"
    persona.write_bytes("name: Jürgen\ngreeting: Grüß Gott!\n".encode("latin-1"))
    avatar = assets / "avatars" / "tabbed.yaml"
    avatar.write_text("id: tabbed\nname: Tab\npalette:\n\tskin: [1, 2, 3]\n", encoding="utf-8")
    twice = assets / "avatars" / "twice.yaml"
    twice.write_text("id: twice\nname: One\nname: Two\n", encoding="utf-8")
    (assets / "personas" / "folder.yaml").mkdir()
    with caplog.at_level(logging.WARNING, logger="app.catalog"):
        personas = {c.id: c for c in catalog.personas()}
        avatars = {c.id: c for c in catalog.avatars()}
    reasons = {
        "latin": f"{persona}: not UTF-8 text (byte 0xfc at line 1): save it as UTF-8",
        "folder": f"{assets / 'personas' / 'folder.yaml'}: is a folder, not a YAML file",
        "tabbed": f"{avatar}:4: invalid YAML: tabs are not allowed for indentation: use spaces",
        "twice": f"{twice}:3: duplicate key 'name' (also at line 2): keep one of them",
    }
    for key, reason in reasons.items():
        choice = personas.get(key) or avatars[key]
        assert choice.label == key and choice.tooltip == f"cannot be used: {reason}"
        assert reason in caplog.messages  # in duet-app.log too, one line
    assert personas["guide"].label == "Ada (guide)" and avatars["ada"].label == "Ada"  # the others as ever
    assert persona_avatar_problem("latin", None) == ""  # listed: picking it shows the engine's full error


def test_a_persona_path_that_is_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mine.yaml"
    folder.mkdir()
    assert persona_avatar_problem(str(folder), None) == f"--persona: {folder}: is a folder, not a YAML file"
    assert persona_avatar_problem(str(tmp_path / "gone.yaml"), None).startswith(
        "--persona: no such persona file"
    )

"""Session file names for a study: the label made safe for a file name, local time with its offset."""

from __future__ import annotations

import datetime as dt

from engine.session import clean_label, file_stem, label_slug, local_iso


def test_a_label_keeps_only_safe_characters_in_the_file_name() -> None:
    assert label_slug("P03-condB") == "P03-condB"
    assert label_slug("  P03 cond B ") == "P03-cond-B"
    assert label_slug("Élodie / test #2") == "Elodie-test-2"
    assert label_slug("../../etc/passwd") == "etc-passwd"  # never a folder
    assert label_slug("..") == "" and label_slug("Проба") == "" and label_slug("") == ""
    assert len(label_slug("x" * 300)) == 40
    assert clean_label("  P03\n condB\t") == "P03 condB"  # metadata: one line, as typed


def test_file_stem_is_local_time_and_the_label() -> None:
    when = dt.datetime(2026, 12, 2, 7, 14, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    local = when.astimezone()  # the machine's own zone
    assert file_stem("duet", "P03 condB", when) == f"duet-{local:%Y-%m-%d-%H%M%S}-P03-condB"
    assert file_stem("run", "", when) == f"run-{local:%Y-%m-%d-%H%M%S}"


def test_local_iso_names_the_utc_offset_and_the_same_moment() -> None:
    now = dt.datetime.now(dt.UTC)
    text = local_iso(now)
    parsed = dt.datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None  # "+01:00", "+00:00", ...: never a bare local time
    assert abs((parsed - now).total_seconds()) < 0.001
    assert text[-6] in "+-" and text[-3] == ":"

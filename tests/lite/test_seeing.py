"""Seeing on synthetic booth camera scenes (tests/lite/scenes.py): when a visit starts and ends."""

from __future__ import annotations

import numpy as np
import pytest

from engine.models.lite.seeing import FaceWatcher

from .scenes import Person, Scene, watch


def test_passers_by_never_add_up_to_a_visit() -> None:
    """Seven people crossing the aisle in 0.5 s each, 1.6 s apart: nobody stayed."""
    walkers = [Person(t, t + 0.5, x=0.1, x1=0.9) if i % 2 == 0 else Person(t, t + 0.5, x=0.9, x1=0.1)
               for i, t in enumerate([2.0, 3.6, 5.2, 6.8, 8.4, 10.0, 11.6])]  # fmt: skip
    assert watch(Scene(walkers, 14.0), FaceWatcher()) == []


def test_two_quick_passers_by_are_no_visit() -> None:
    """0.3 s each, 1.5 s apart (the old 2 s memory counted the second as the first staying)."""
    walkers = [Person(3.0, 3.3, x=0.3, x1=0.7), Person(4.8, 5.1, x=0.7, x1=0.3)]
    assert watch(Scene(walkers, 9.0), FaceWatcher()) == []


def test_arrival_counts_after_about_a_second() -> None:
    changes = watch(Scene([Person(1.0, 6.0)], 9.0), FaceWatcher())
    assert [p for _, p in changes] == [True, False]
    (came, _), (left, _) = changes
    assert 0.75 <= came - 1.0 <= 1.05  # seen ~1 s (and not much more: the greeting follows at once)
    assert 0.4 <= left - 6.0 <= 1.2  # the spot looks empty again: gone


@pytest.mark.parametrize("away_s", [2.6, 4.0])
def test_a_visitor_who_looks_away_stays(away_s: float) -> None:
    """The back of the head for a while (no face) is the same visit, not a leave and a return."""
    people = [Person(2.0, 7.0), Person(7.0, 7.0 + away_s, away=True), Person(7.0 + away_s, 14.0)]
    changes = watch(Scene(people, 16.0), FaceWatcher())
    assert [p for _, p in changes] == [True, False]
    assert changes[1][0] > 14.0


def test_the_next_person_after_a_real_leave_is_a_new_visit() -> None:
    """A leaves, B steps up 1.6 s later: two visits, the second one after a seen-empty spot."""
    watcher = FaceWatcher()
    people = [Person(3.0, 4.8, x=0.5), Person(6.4, 12.0, x=0.35)]
    scene = Scene(people, 14.0)
    arrivals = []
    for t in range(len(scene)):
        arrivals += [c for c in watcher.update(scene[t][None], np.array([t])) if c.present]
    assert len(arrivals) == 2
    assert arrivals[1].cleared and 1.0 <= arrivals[1].gap_s <= 2.2


@pytest.mark.parametrize(("w", "h", "face_px"), [(640, 360, 40), (640, 480, 80)])
@pytest.mark.parametrize("x", [0.3, 0.62])
def test_faces_at_booth_distance_are_seen(w: int, h: int, face_px: int, x: float) -> None:
    """An 80 px face of a 1280x720 camera (40 px once the reader fits it into 640x480) is seen."""
    changes = watch(Scene([Person(1.0, 5.0, x=x, face_px=face_px)], 7.0, w, h), FaceWatcher())
    assert [p for _, p in changes] == [True, False]


def test_nobody_in_the_room_costs_little() -> None:
    """An empty room is searched every check; a visitor is followed in a small crop instead."""
    watcher = FaceWatcher()
    watch(Scene([Person(1.0, 9.0)], 9.0), watcher)
    checks = 9.0 / 0.16
    assert watcher.full_scans < 0.5 * checks  # the whole frame only now and then during a visit

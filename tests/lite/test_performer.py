"""Performer: both avatars render, blink, move their mouths from the pose, and are deterministic."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import yaml

from engine.models.lite.performer import (
    AvatarError,
    PerformCue,
    Performer,
    list_avatars,
    load_avatar,
    mouth_open_fraction,
)
from engine.models.lite.performer.spec import parse_avatar
from engine.models.lite.visemes import MouthPose, VisemeKey, VisemeTrack

AVATARS = ("ada", "max")


def _eye_region(frame: np.ndarray, avatar: str) -> np.ndarray:
    from engine.models.lite.performer.layout import layout_for

    lay = layout_for(load_avatar(avatar))
    k = frame.shape[0] / 512
    y0, y1 = int((lay.eye_y - 16) * k), int((lay.eye_y + 12) * k)
    x0, x1 = int((lay.cx - lay.eye_dx - 24) * k), int((lay.cx + lay.eye_dx + 24) * k)
    return frame[y0:y1, x0:x1]


def _sclera_pixels(frame: np.ndarray, avatar: str) -> int:
    roi = _eye_region(frame, avatar).astype(np.int16)
    return int((roi.min(axis=2) > 225).sum())  # near-white: the whites of the eyes (and highlights)


def test_ships_two_avatars() -> None:
    assert set(AVATARS) <= set(list_avatars())


@pytest.mark.parametrize("avatar", AVATARS)
def test_renders_512_rgb(avatar: str) -> None:
    p = Performer(avatar, size=512, seed=0)
    for mode in ("idle", "listening", "thinking", "speaking"):
        f = p.frame(1.0, PerformCue(mode=mode))
        assert f.shape == (512, 512, 3) and f.dtype == np.uint8
    # a face in the middle: not background-flat
    assert f[150:350, 150:350].std() > 20


@pytest.mark.parametrize("avatar", AVATARS)
def test_blinks_within_six_seconds(avatar: str) -> None:
    p = Performer(avatar, size=512, seed=7)
    whites = [_sclera_pixels(p.frame(i * 0.02, PerformCue()), avatar) for i in range(300)]
    open_level = np.median(whites)
    assert open_level > 40
    closed = [i for i, w in enumerate(whites) if w < 0.2 * open_level]
    assert closed, "no blink in 6 s"
    # a blink is short (~150 ms): few consecutive 20 ms samples are shut
    assert len(closed) < 40


@pytest.mark.parametrize("avatar", AVATARS)
def test_mouth_opening_is_measurable(avatar: str) -> None:
    p = Performer(avatar, size=512, seed=0)
    closed = p.frame(2.0, PerformCue(mode="speaking", mouth=MouthPose.closed()))
    aa = p.frame(2.04, PerformCue(mode="speaking", mouth=MouthPose.for_viseme("aa")))
    oo = p.frame(2.08, PerformCue(mode="speaking", mouth=MouthPose.for_viseme("O")))
    pp = p.frame(2.12, PerformCue(mode="speaking", mouth=MouthPose.for_viseme("PP")))
    assert mouth_open_fraction(closed, avatar) < 0.02
    assert mouth_open_fraction(pp, avatar) < 0.02
    assert mouth_open_fraction(aa, avatar) > 0.6
    assert 0.2 < mouth_open_fraction(oo, avatar) < mouth_open_fraction(aa, avatar)
    # idle frames keep the mouth shut
    assert mouth_open_fraction(p.frame(3.0, PerformCue()), avatar) < 0.02


def test_mouth_follows_a_viseme_track_frame_by_frame() -> None:
    track = VisemeTrack([VisemeKey(0.0, 0.3, "sil"), VisemeKey(0.3, 0.9, "aa"), VisemeKey(0.9, 1.4, "sil")])
    p = Performer("ada", size=256, seed=0)
    opens_list: list[float] = []
    for i in range(35):
        t = i * 0.04
        f = p.frame(t, PerformCue(mode="speaking", mouth=track.pose_at(t)))
        opens_list.append(mouth_open_fraction(f, "ada"))
    opens = np.array(opens_list)
    assert opens[:5].max() < 0.05 and opens[30:].max() < 0.05
    assert opens[10:20].min() > 0.5


def test_avatars_differ_and_are_deterministic() -> None:
    a1 = Performer("ada", size=256, seed=3)
    a2 = Performer("ada", size=256, seed=3)
    m = Performer("max", size=256, seed=3)
    cues = [PerformCue(), PerformCue("listening", gaze=(0.5, 0.1), nod=True), PerformCue("thinking")]
    for i in range(30):
        cue = cues[(i // 10) % 3]
        fa, fb, fm = a1.frame(i * 0.04, cue), a2.frame(i * 0.04, cue), m.frame(i * 0.04, cue)
        assert np.array_equal(fa, fb)
        assert np.abs(fa.astype(int) - fm).mean() > 10
    # a different seed moves differently
    other = Performer("ada", size=256, seed=4)
    assert not np.array_equal(
        other.frame(5.0, PerformCue()), Performer("ada", 256, seed=3).frame(5.0, PerformCue())
    )


@pytest.mark.parametrize("avatar", AVATARS)
def test_gaze_moves_the_eyes(avatar: str) -> None:
    left = Performer(avatar, 512, seed=0).frame(1.0, PerformCue("listening", gaze=(-1.0, 0.0)))
    right = Performer(avatar, 512, seed=0).frame(1.0, PerformCue("listening", gaze=(1.0, 0.0)))
    think = Performer(avatar, 512, seed=0).frame(1.0, PerformCue("thinking"))

    def dark_x(f: np.ndarray) -> float:
        roi = _eye_region(f, avatar).astype(np.int16)
        _ys, xs = np.nonzero(roi.max(axis=2) < 70)  # pupils and lashes
        return float(xs.mean())

    assert dark_x(left) < dark_x(right) - 3
    assert not np.array_equal(think, left)


def test_idle_is_alive() -> None:
    p = Performer("max", size=256, seed=1)
    frames = [p.frame(i * 0.2, PerformCue()) for i in range(25)]
    diffs = [np.abs(a.astype(int) - b).mean() for a, b in itertools.pairwise(frames)]
    assert min(diffs) > 0.0  # breathing and sway: never a frozen picture
    assert max(diffs) < 20  # but calm


def test_nod_moves_the_head_down() -> None:
    p = Performer("ada", size=256, seed=0)
    q = Performer("ada", size=256, seed=0)
    for i in range(10):
        t = i * 0.04
        fa = p.frame(t, PerformCue("listening", nod=(i == 0)))
        fb = q.frame(t, PerformCue("listening"))
    assert np.abs(fa.astype(int) - fb).mean() > 0.5


def test_bad_inputs() -> None:
    with pytest.raises(AvatarError, match="unknown avatar"):
        Performer("nobody")
    with pytest.raises(ValueError, match="mode"):
        PerformCue(mode="dancing")
    with pytest.raises(ValueError, match="size"):
        Performer("ada", size=10)
    with pytest.raises(ValueError, match="t_s"):
        Performer("ada", 128).frame(float("nan"), PerformCue())


def test_avatar_yaml_errors_name_the_file_and_key() -> None:
    from engine.models.lite.performer.spec import avatars_dir

    src = (avatars_dir() / "ada.yaml").read_text()
    data = yaml.safe_load(src)
    data["palette"]["skin"] = [300, 0, 0]
    with pytest.raises(AvatarError, match=r"ada\.yaml:\d+: skin"):
        parse_avatar(data, "ada.yaml", src)
    data = yaml.safe_load(src)
    del data["face"]["jaw"]
    with pytest.raises(AvatarError, match=r"missing avatar field.*jaw"):
        parse_avatar(data, "ada.yaml", src)
    data = yaml.safe_load(src)
    data["style"]["hair_style"] = "mohawk"
    with pytest.raises(AvatarError, match="hair_style"):
        parse_avatar(data, "ada.yaml", src)


def test_app_icon_is_a_512_rgba_png() -> None:
    import cv2

    from engine import paths
    from engine.models.lite.performer.icon import make_icon

    icon = cv2.imread(str(paths.assets_dir() / "icon.png"), cv2.IMREAD_UNCHANGED)
    assert icon is not None and icon.shape == (512, 512, 4)
    assert icon[0, 0, 3] == 0 and icon[256, 256, 3] == 255  # rounded corners, opaque middle
    made = make_icon("max", size=128)
    assert made.shape == (128, 128, 4) and made.dtype == np.uint8


def test_mouth_measure_survives_h264_and_downscaling() -> None:
    import io

    import av
    import cv2

    p = Performer("max", size=512, seed=0)
    poses = [
        MouthPose.closed(),
        MouthPose.for_viseme("aa"),
        MouthPose.for_viseme("PP"),
        MouthPose.for_viseme("O"),
    ]
    frames = [p.frame(i * 0.04, PerformCue("speaking", poses[i % 4])) for i in range(8)]
    buf = io.BytesIO()
    with av.open(buf, "w", format="matroska") as c:
        s = c.add_stream("h264", rate=25)
        s.width = s.height = 512
        s.pix_fmt = "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    buf.seek(0)
    with av.open(buf, "r") as c:
        decoded = [fr.to_ndarray(format="rgb24") for fr in c.decode(video=0)]
    assert len(decoded) == 8
    for i, f in enumerate(decoded[:4]):
        small = cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA)
        if i % 2 == 0:  # closed, PP
            assert mouth_open_fraction(f, "max") < 0.08 and mouth_open_fraction(small, "max") < 0.08
        else:  # aa
            assert mouth_open_fraction(f, "max") > 0.6 and mouth_open_fraction(small, "max") > 0.3


def test_any_sequence_of_cues_renders() -> None:
    rng = np.random.default_rng(11)
    p = Performer("ada", size=128, seed=5)
    t = 0.0
    for _ in range(120):
        t += float(rng.choice([0.0, 0.04, 0.04, 0.3, -0.5, 7.0]))  # repeats, jumps back and ahead
        cue = PerformCue(
            mode=str(rng.choice(["idle", "listening", "thinking", "speaking"])),
            mouth=MouthPose.from_array(rng.uniform(0, 1, 5)),
            # numpy scalars on purpose (float32 is no float subclass): the renderer must take them
            gaze=(float(rng.uniform(-3, 3)), cast(float, np.float32(rng.uniform(-1, 1)))),
            nod=bool(rng.integers(2)),
            user_present=bool(rng.integers(2)),
        )
        f = p.frame(cast(float, np.float32(t)), cue)
        assert f.shape == (128, 128, 3) and f.dtype == np.uint8


def _avatar_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An assets folder with the shipped avatars' YAML, for variants of them."""
    from engine.models.lite.performer.spec import avatars_dir

    src = avatars_dir()
    folder = tmp_path / "assets" / "avatars"
    folder.mkdir(parents=True)
    for f in src.glob("*.yaml"):
        (folder / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("DUET_ASSETS_DIR", str(tmp_path / "assets"))
    return folder


def _variant(folder: Path, name: str, old: str, new: str) -> str:
    text = (folder / "ada.yaml").read_text(encoding="utf-8").replace("id: ada", f"id: {name}")
    assert old in text
    (folder / f"{name}.yaml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return str(folder / f"{name}.yaml")


def test_avatar_file_errors_are_one_line_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _avatar_dir(tmp_path, monkeypatch)
    ada = (folder / "ada.yaml").read_text(encoding="utf-8").splitlines()
    iris = next(i for i, line in enumerate(ada, 1) if line.startswith("  iris:"))  # its line number
    voice = next(i for i, line in enumerate(ada, 1) if line.startswith("voice:"))
    cases = {
        "tabbed": ("  iris:", "\tiris:",
                   f":{iris}: invalid YAML: tabs are not allowed for indentation: use spaces"),
        "twice": ("  iris: [74, 132, 108]\n", "  iris: [74, 132, 108]\n  iris: [255, 0, 0]\n",
                  f":{iris + 1}: duplicate key 'iris' (also at line {iris}): keep one of them"),
        "badvoice": ("voice: joe-bright", "voice: joe-brite",
                     f":{voice}: voice: unknown voice 'joe-brite'; available: joe, joe-bright, joe-warm"),
    }  # fmt: skip
    for name, (old, new, expected) in cases.items():
        path = _variant(folder, name, old, new)
        with pytest.raises(AvatarError) as e:
            load_avatar(name)
        assert str(e.value).startswith(path + expected), str(e.value)
        assert "\n" not in str(e.value)
    latin = folder / "latin.yaml"
    text = (folder / "ada.yaml").read_text(encoding="utf-8").replace("id: ada", "id: latin")
    latin.write_bytes(text.replace("Friendly guide", "Freundliche Führerin").encode("latin-1"))
    with pytest.raises(AvatarError) as e:
        load_avatar("latin")
    line = next(i for i, x in enumerate(ada, 1) if "Friendly guide" in x)
    assert str(e.value) == f"{latin}: not UTF-8 text (byte 0xfc at line {line}): save it as UTF-8"


def test_an_avatar_voice_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.models.lite.persona import parse_persona, voice_of

    folder = _avatar_dir(tmp_path, monkeypatch)
    _variant(folder, "quiet", "voice: joe-bright\n", "")
    _variant(folder, "blank", "voice: joe-bright\n", "voice:\n")
    persona = parse_persona("name: P\ngreeting: Hi.\nfallback: Sorry?\nrepeat_request: Again?\n")
    for name in ("quiet", "blank"):
        assert load_avatar(name).voice == ""
        assert voice_of(persona, name) == "joe"  # neither names one: joe

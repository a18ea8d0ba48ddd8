"""Avatar descriptions: assets/avatars/<id>.yaml -> AvatarSpec (validated, with clear errors).

Colours are RGB triples 0..255. Sizes are in design pixels of a 512x512 frame (the renderer scales
them to the frame size it draws). `voice:` (optional) is the voice a session with this avatar speaks
with when its persona names none (`duet-engine voices`); left out or empty: joe. A key given twice
is an error (PyYAML would keep the last one silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import paths, yamlfile

RGB = tuple[int, int, int]

HAIR_STYLES = ("long", "short")
NECKLINES = ("round", "collar")


class AvatarError(ValueError):
    """A bad avatar description; the message names the file and the key."""


@dataclass(frozen=True)
class AvatarSpec:
    id: str
    name: str
    description: str
    voice: str  # "" = none of its own (joe)
    # palette
    background_top: RGB
    background_bottom: RGB
    background_glow: RGB
    skin: RGB
    skin_shadow: RGB
    blush: RGB
    lips: RGB
    hair: RGB
    hair_shadow: RGB
    hair_highlight: RGB
    brows: RGB
    iris: RGB
    lashes: RGB
    clothes: RGB
    clothes_shadow: RGB
    accent: RGB
    # face shape (design px at 512)
    face_width: float  # half-width of the face at the cheeks
    face_height: float  # half-height, forehead to chin
    jaw: float  # 0..1 width of the jaw relative to the cheeks (1 = square)
    chin: float  # 0..1 roundness of the chin (1 = round, 0 = pointed)
    eye_size: float  # scale of the eyes (1 = default)
    eye_spacing: float  # eye centres at +-spacing * face_width from the middle
    brow_thickness: float  # design px
    lashes_long: bool
    mouth_width: float  # half-width of the mouth at rest, design px
    lip_fullness: float  # 0.5..1.5
    # hair and clothes
    hair_style: str
    fringe: float  # -1..1: side the fringe sweeps to (0: centred)
    neckline: str


_FIELDS = {f for f in AvatarSpec.__dataclass_fields__}
_OPTIONAL = {"voice"}


def _line_of(text: str, key: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(f"{key}:"):
            return i
    return None


def _rgb(v: Any, where: str) -> RGB:
    if (
        not isinstance(v, list | tuple)
        or len(v) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in v)
    ):
        raise AvatarError(f"{where}: expected an RGB list of three integers 0..255, got {v!r}")
    return (int(v[0]), int(v[1]), int(v[2]))


def _voice(v: Any, where: str) -> str:
    """The avatar's voice id: "" when left out or empty, else one `duet-engine voices` lists."""
    if v is None:
        return ""
    if not isinstance(v, str):
        raise AvatarError(f"{where}: expected a voice id (`duet-engine voices`), got {v!r}")
    from engine.models.lite.voice import list_voices

    voices = list_voices()
    if v.strip() and v.strip() not in voices:
        raise AvatarError(
            f"{where}: unknown voice {v.strip()!r}; available: {', '.join(voices)} (`duet-engine voices`)"
        )
    return v.strip()


def _num(v: Any, where: str, lo: float, hi: float) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
        raise AvatarError(f"{where}: expected a number in [{lo}, {hi}], got {v!r}")
    return float(v)


_RANGES: dict[str, tuple[float, float]] = {
    "face_width": (70, 120), "face_height": (95, 140), "jaw": (0.4, 1.0), "chin": (0.0, 1.0),
    "eye_size": (0.7, 1.4), "eye_spacing": (0.3, 0.55), "brow_thickness": (2, 12),
    "mouth_width": (16, 36), "lip_fullness": (0.5, 1.5), "fringe": (-1.0, 1.0),
}  # fmt: skip


def parse_avatar(data: Any, source: str, text: str = "") -> AvatarSpec:
    """Validate a loaded YAML mapping; errors name `source` and the offending key (and its line)."""
    if not isinstance(data, dict):
        raise AvatarError(f"{source}: expected a mapping of avatar fields at the top level")

    def where(key: str) -> str:
        line = _line_of(text, key) if text else None
        return f"{source}:{line}: {key}" if line else f"{source}: {key}"

    values: dict[str, Any] = {}
    flat: dict[str, Any] = {}
    for group in ("palette", "face", "style"):
        sub = data.get(group, {})
        if not isinstance(sub, dict):
            raise AvatarError(f"{where(group)}: expected a mapping")
        flat.update(sub)
    flat.update({k: v for k, v in data.items() if k not in ("palette", "face", "style")})
    unknown = set(flat) - _FIELDS
    if unknown:
        raise AvatarError(
            f"{where(sorted(unknown)[0])}: unknown avatar field(s) {', '.join(sorted(unknown))}"
        )
    missing = _FIELDS - _OPTIONAL - set(flat)
    if missing:
        raise AvatarError(f"{source}: missing avatar field(s) {', '.join(sorted(missing))}")
    for name, field in AvatarSpec.__dataclass_fields__.items():
        v = flat.get(name)
        if name == "voice":
            values[name] = _voice(v, where(name))
        elif field.type == "RGB":
            values[name] = _rgb(v, where(name))
        elif name in _RANGES:
            values[name] = _num(v, where(name), *_RANGES[name])
        elif field.type == "bool":
            if not isinstance(v, bool):
                raise AvatarError(f"{where(name)}: expected true or false, got {v!r}")
            values[name] = v
        else:
            if not isinstance(v, str) or not v.strip():
                raise AvatarError(f"{where(name)}: expected a non-empty text, got {v!r}")
            values[name] = v.strip()
    if values["hair_style"] not in HAIR_STYLES:
        raise AvatarError(f"{where('hair_style')}: expected one of {', '.join(HAIR_STYLES)}")
    if values["neckline"] not in NECKLINES:
        raise AvatarError(f"{where('neckline')}: expected one of {', '.join(NECKLINES)}")
    return AvatarSpec(**values)


def avatars_dir() -> Path:
    return paths.assets_dir() / "avatars"


def list_avatars() -> list[str]:
    d = avatars_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


_CACHE: dict[tuple[str, float], AvatarSpec] = {}


def load_avatar(avatar_id: str) -> AvatarSpec:
    if not isinstance(avatar_id, str) or not avatar_id or "/" in avatar_id or "\\" in avatar_id:
        raise AvatarError(f"bad avatar id {avatar_id!r}")
    path = avatars_dir() / f"{avatar_id}.yaml"
    if not path.is_file():
        raise AvatarError(f"unknown avatar {avatar_id!r}; available: {', '.join(list_avatars()) or 'none'}")
    key = (str(path), path.stat().st_mtime)
    if key not in _CACHE:
        try:  # not UTF-8, bad YAML, a key given twice: one line naming the file and the line
            text = yamlfile.read_text(path)
            data = yamlfile.load(text, str(path))
        except yamlfile.YamlFileError as e:
            raise AvatarError(str(e)) from None
        spec = parse_avatar(data, str(path), text)
        if spec.id != avatar_id:
            line = _line_of(text, "id")
            where = f"{path}:{line}" if line else str(path)
            raise AvatarError(
                f"{where}: id is {spec.id!r} but the file is named {avatar_id}.yaml: make them the same"
            )
        _CACHE[key] = spec
    return _CACHE[key]

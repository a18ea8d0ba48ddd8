"""The dark theme: one Qt stylesheet. Colours: ink #0f1115, panels #171a21, accent #6c8cff.

Contrast (WCAG 2.1, `contrast_ratio`): text at least 4.5:1 on its background, the edges of fields
and pickers and the keyboard focus ring at least 3:1 (tests/app/test_accessibility.py checks them).
"""

from __future__ import annotations

from engine.paths import assets_dir

STATE_COLORS = {
    "listening": "#3ccf8e",
    "thinking": "#f5b94a",
    "speaking": "#6c8cff",
    "idle": "#8a93a6",
    "starting": "#8a93a6",
    "offline": "#ff6b6b",
    "no session": "#ff6b6b",
    "muted": "#ff8f8f",  # the microphone is off (Mute): the avatar hears nothing
    "hold to talk": "#8a93a6",  # push-to-talk and nothing held: the avatar hears nothing
}
FOCUS = "#c8d4ff"  # the keyboard focus ring (2 px) on every control: >= 3:1 on what it replaces
FIELD_EDGE = "#6b7594"  # the border of text fields and pickers: >= 3:1 on the bars and panels
DIM_TEXT = "#8a93a6"  # hints, field labels, disabled text: >= 4.5:1 on every panel


def _luminance(color: str) -> float:
    """Relative luminance of "#rrggbb" (WCAG 2.1)."""
    h = color.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two "#rrggbb" colours (1 to 21)."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


STYLESHEET = (
    """
QWidget { background: #0f1115; color: #e6e9ef; font-size: 13px; }
QMainWindow, #central { background: #0f1115; }
#topBar { background: #151821; border-bottom: 1px solid #232838; }
#topBar QLabel { color: @DIM@; background: transparent; }
#brand { font-size: 16px; font-weight: 600; color: #e6e9ef; letter-spacing: 1px; }
QComboBox { background: #1c202b; border: 1px solid @EDGE@; border-radius: 6px; padding: 4px 8px;
            combobox-popup: 0; }
QComboBox:hover { border-color: #9aa3b5; }
QComboBox:focus { border: 2px solid @FOCUS@; padding: 3px 7px; }
QComboBox::drop-down { subcontrol-origin: padding; subcontrol-position: center right; width: 18px;
                       border: none; background: transparent; }
QComboBox::down-arrow { image: url("@ICONS@/chevron-down.svg"); width: 10px; height: 6px; }
QComboBox:disabled, QLineEdit:disabled { background: #161922; color: @DIM@; border-color: #3a4360; }
QComboBox QAbstractItemView { background: #1c202b; border: 1px solid @EDGE@; outline: 0; padding: 2px; }
QComboBox QAbstractItemView::item { min-height: 24px; padding: 2px 8px; color: #e6e9ef;
                                    background: transparent; }
QComboBox QAbstractItemView::item:hover { background: #2f3b66; }
QComboBox QAbstractItemView::item:selected { background: #6c8cff; color: #0f1115; }
QPushButton, QToolButton { background: #1f2430; border: 1px solid #3a4360; border-radius: 8px;
            padding: 6px 12px; }
QPushButton:hover, QToolButton:hover { background: #262c3b; border-color: #5a6480; }
QPushButton:pressed, QToolButton:pressed { background: #2f3b66; }
QPushButton:checked, QToolButton:checked { background: #2f3b66; border-color: #6c8cff; }
QPushButton#primary { background: #6c8cff; color: #0f1115; border: none; font-weight: 600; }
QPushButton#primary:hover { background: #859fff; }
QPushButton#danger:checked { background: #5a2330; border-color: #ff6b6b; }
QPushButton#record:checked { background: #5a2330; border-color: #ff6b6b; }
QPushButton#talk:pressed { background: #3ccf8e; color: #0f1115; border-color: #3ccf8e; }
QPushButton:focus, QToolButton:focus { border: 2px solid @FOCUS@; padding: 5px 11px; }
QPushButton, QToolButton, QComboBox { outline: none; }  /* the ring above, not the style's dotted box */
QPushButton#danger:checked:focus, QPushButton#record:checked:focus, QPushButton#talk:pressed:focus {
    border-color: @FOCUS@; }
QPushButton#primary:focus { border: 2px solid #ffffff; padding: 4px 10px; }
#topBar QToolButton { padding: 6px 9px; }
#topBar QToolButton:focus { padding: 5px 8px; }
QLineEdit { background: #1c202b; border: 1px solid @EDGE@; border-radius: 8px; padding: 7px 10px;
            selection-background-color: #2f3b66; }
QLineEdit:focus { border: 2px solid @FOCUS@; padding: 6px 9px; }
#stage { background: #0b0d11; border-radius: 14px; }
#captions { background: #141720; border-left: 1px solid #232838; }
#captionRow, #devicesBox, #recordingBox { background: transparent; }
QToolButton#headerButton { font-size: 11px; padding: 2px 8px; }
QToolButton#headerButton:focus { padding: 1px 7px; }
#fileName { color: #c9d6ff; background: transparent; }
#fieldLabel { color: @DIM@; background: transparent; }
#captionsTitle { color: @DIM@; font-size: 11px; letter-spacing: 1px; background: transparent; }
QToolButton#sectionTitle { color: @DIM@; font-size: 11px; letter-spacing: 1px; background: transparent;
    border: 2px solid transparent; border-radius: 4px; padding: 1px 4px 1px 0; }
QToolButton#sectionTitle:hover { color: #c9d6ff; }
QToolButton#sectionTitle:focus { color: #e6e9ef; border-color: @FOCUS@; }
QScrollArea, #captionList { background: transparent; border: none; }
QScrollArea#conversation { border: 2px solid transparent; border-radius: 8px; }
QScrollArea#conversation:focus { border-color: @FOCUS@; }
#captionsHint { color: @DIM@; background: transparent; padding: 4px 2px; }
#bubbleUser { background: #253660; border-radius: 10px; }
#bubbleAvatar { background: #1f232e; border-radius: 10px; }
#bubbleUser[partial="true"] QLabel, #bubbleAvatar[partial="true"] QLabel { color: #9aa3b5; }
#bubbleUser QLabel#speaker, #bubbleAvatar QLabel#speaker { color: #b4bdd0; font-size: 11px;
    font-weight: 600; }
#bottomBar { background: #151821; border-top: 1px solid #232838; }
#statePill { border-radius: 11px; padding: 3px 12px; font-weight: 600; color: #0f1115; }
#badge { background: #5a4320; color: #ffd08a; border-radius: 9px; padding: 2px 8px; font-size: 11px; }
#banner { border-radius: 8px; padding: 8px 12px; }
#banner[level="info"] { background: #1d2740; color: #c9d6ff; }
#banner[level="warn"] { background: #3d3220; color: #ffd08a; }
#banner[level="error"] { background: #3d1f25; color: #ffb3b3; }
#deviceNote { color: #ffd08a; background: transparent; }
#recordNote { color: #9aa3b5; background: transparent; }
#subtitle { color: #e8ecf5; background: transparent; font-size: 22px; padding: 2px 40px; }
#recordNote[level="error"] { color: #ffb3b3; }
#recordNote[level="warn"] { color: #ffd08a; }
#recIndicator { color: #ff6b6b; font-weight: 600; background: transparent; }
#fieldNote { color: @DIM@; font-size: 11px; background: transparent; }
#selfView { background: #1c202b; border: 2px solid #2a3042; border-radius: 10px; color: @DIM@; }
#hud { background: rgba(15, 17, 21, 215); border: 1px solid #2a3042; border-radius: 10px; }
#hud QLabel { background: transparent; }
#hudKey { color: @DIM@; font-size: 11px; }
#hudValue { color: #e6e9ef; font-family: monospace; font-size: 12px; }
#toast { background: #1c202b; color: #e6e9ef; border: 1px solid @EDGE@; border-radius: 0;
         padding: 8px 16px; font-size: 15px; }
#shortcuts QLabel { background: transparent; }
#shortcutsTitle { font-size: 15px; font-weight: 600; }
#shortcutKeys { color: #c9d6ff; font-family: monospace; font-weight: 600; }
#shortcutNote { color: @DIM@; }
QProgressBar { background: #1c202b; border: none; border-radius: 3px; max-height: 6px; }
QProgressBar::chunk { background: #3ccf8e; border-radius: 3px; }
QScrollBar:vertical { background: transparent; width: 8px; }
QScrollBar::handle:vertical { background: #3a4360; border-radius: 4px; min-height: 20px; }
QScrollBar::add-line, QScrollBar::sub-line { height: 0; }
QToolTip { background: #1c202b; color: #e6e9ef; border: 1px solid @EDGE@; }
""".replace("@ICONS@", (assets_dir() / "icons").as_posix())  # url() wants forward slashes
    .replace("@FOCUS@", FOCUS)
    .replace("@EDGE@", FIELD_EDGE)
    .replace("@DIM@", DIM_TEXT)
)

"""The dark theme: one Qt stylesheet. Colours: ink #0f1115, panels #171a21, accent #6c8cff."""

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
}

STYLESHEET = """
QWidget { background: #0f1115; color: #e6e9ef; font-size: 13px; }
QMainWindow, #central { background: #0f1115; }
#topBar { background: #151821; border-bottom: 1px solid #232838; }
#topBar QLabel { color: #8a93a6; background: transparent; }
#brand { font-size: 16px; font-weight: 600; color: #e6e9ef; letter-spacing: 1px; }
QComboBox { background: #1c202b; border: 1px solid #2a3042; border-radius: 6px; padding: 4px 8px;
            min-width: 90px; }
QComboBox:hover { border-color: #3a4360; }
QComboBox::drop-down { subcontrol-origin: padding; subcontrol-position: center right; width: 18px;
                       border: none; background: transparent; }
QComboBox::down-arrow { image: url("@ICONS@/chevron-down.svg"); width: 10px; height: 6px; }
QComboBox:disabled, QLineEdit:disabled { background: #161922; color: #5c6477; border-color: #222735; }
QComboBox QAbstractItemView { background: #1c202b; selection-background-color: #2f3b66;
                              border: 1px solid #2a3042; }
QPushButton, QToolButton { background: #1f2430; border: 1px solid #2a3042; border-radius: 8px;
            padding: 6px 12px; }
QPushButton:hover, QToolButton:hover { background: #262c3b; border-color: #3a4360; }
QPushButton:pressed, QToolButton:pressed { background: #2f3b66; }
QPushButton:checked, QToolButton:checked { background: #2f3b66; border-color: #6c8cff; }
QPushButton#primary { background: #6c8cff; color: #0f1115; border: none; font-weight: 600; }
QPushButton#primary:hover { background: #859fff; }
QPushButton#danger:checked { background: #5a2330; border-color: #ff6b6b; }
QLineEdit { background: #1c202b; border: 1px solid #2a3042; border-radius: 8px; padding: 7px 10px;
            selection-background-color: #2f3b66; }
QLineEdit:focus { border-color: #6c8cff; }
#stage { background: #0b0d11; border-radius: 14px; }
#captions { background: #141720; border-left: 1px solid #232838; }
#captionRow, #devicesBox { background: transparent; }
#fieldLabel { color: #8a93a6; background: transparent; }
#captionsTitle { color: #8a93a6; font-size: 11px; letter-spacing: 1px; background: transparent; }
QToolButton#sectionTitle { color: #8a93a6; font-size: 11px; letter-spacing: 1px; background: transparent;
    border: none; padding: 0; }
QToolButton#sectionTitle:hover { color: #c9d6ff; }
QScrollArea, #captionList { background: transparent; border: none; }
#captionsHint { color: #6f7890; background: transparent; padding: 4px 2px; }
#bubbleUser { background: #1f2a44; border-radius: 10px; }
#bubbleAvatar { background: #1f232e; border-radius: 10px; }
#bubbleUser[partial="true"] QLabel, #bubbleAvatar[partial="true"] QLabel { color: #9aa3b5; }
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
QPushButton#record:checked { background: #5a2330; border-color: #ff6b6b; }
#recIndicator { color: #ff6b6b; font-weight: 600; background: transparent; }
#fieldNote { color: #8a93a6; font-size: 11px; background: transparent; }
#selfView { background: #1c202b; border: 2px solid #2a3042; border-radius: 10px; color: #8a93a6; }
#hud { background: rgba(15, 17, 21, 215); border: 1px solid #2a3042; border-radius: 10px; }
#hud QLabel { background: transparent; }
#hudKey { color: #8a93a6; font-size: 11px; }
#hudValue { color: #e6e9ef; font-family: monospace; font-size: 12px; }
QProgressBar { background: #1c202b; border: none; border-radius: 3px; max-height: 6px; }
QProgressBar::chunk { background: #3ccf8e; border-radius: 3px; }
QScrollBar:vertical { background: transparent; width: 8px; }
QScrollBar::handle:vertical { background: #2a3042; border-radius: 4px; min-height: 20px; }
QScrollBar::add-line, QScrollBar::sub-line { height: 0; }
QToolTip { background: #1c202b; color: #e6e9ef; border: 1px solid #2a3042; }
""".replace("@ICONS@", (assets_dir() / "icons").as_posix())  # url() wants forward slashes

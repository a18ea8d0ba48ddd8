#!/usr/bin/env bash
# Sets up everything Duet needs on a fresh Debian/Ubuntu (or macOS with Homebrew) machine:
#   system packages (when run as root or with sudo): Xvfb + Mesa GL, Qt's xcb libraries, PortAudio,
#   the PipeWire stack (for headless audio), espeak-ng data; then a virtualenv in .venv with
#   torch==2.13.0 installed FIRST (CPU wheel) and the rest pinned by installers/constraints.txt.
# Usage: installers/setup.sh [--dev]     (idempotent; re-running is cheap)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DUET_VENV:-$ROOT/.venv}"
EXTRA="${1:-}"
PY="${PYTHON:-python3}"

need_apt=()
if command -v apt-get >/dev/null 2>&1; then
  for pkg in xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 \
             libxcb-xinerama0 libxcb-xkb1 libxcb-cursor0 libxkbcommon-x11-0 libxkbcommon0 libegl1 libgl1 \
             libgl1-mesa-dri libglib2.0-0 libfontconfig1 libdbus-1-3 libportaudio2 pipewire pipewire-alsa \
             pipewire-pulse wireplumber pulseaudio-utils dbus sox alsa-utils espeak-ng-data; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$pkg")
  done
  if [ ${#need_apt[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "[setup] apt: installing ${need_apt[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  fi
elif command -v brew >/dev/null 2>&1; then
  brew list portaudio >/dev/null 2>&1 || brew install portaudio
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.duet-setup-stamp"
want="$(cat "$ROOT/pyproject.toml" "$ROOT/installers/constraints.txt" | sha256sum | cut -c1-16)$EXTRA"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$VENV/bin/python" -c "import torch" 2>/dev/null || { echo "[setup] pip: torch==2.13.0 (CPU) first"; "${PIP[@]}" install torch==2.13.0; }
  spec="$ROOT"; [ "$EXTRA" = "--dev" ] && spec="$ROOT[dev]"
  echo "[setup] pip: duet-avatar${EXTRA:+ (dev)}"
  "${PIP[@]}" install -c "$ROOT/installers/constraints.txt" -e "$spec"
  echo "$want" > "$stamp"
fi
echo "[setup] ready: $VENV"

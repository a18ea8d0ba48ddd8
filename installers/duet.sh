#!/usr/bin/env bash
# THE run command (README): sets everything up on a fresh machine, then starts the Duet window.
# With no display (a server, CI), it runs the headless demo instead: the lite avatar answers a
# recorded user turn and a real two-sided session file is written (its path is printed).
# Usage: installers/duet.sh [duet args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/installers/setup.sh"
VENV="${DUET_VENV:-$ROOT/.venv}"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
  exec "$VENV/bin/duet" "$@"
fi
echo "[duet] no display found: running the headless demo (duet-engine demo)"
exec "$VENV/bin/duet-engine" demo "$@"

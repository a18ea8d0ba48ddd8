#!/usr/bin/env bash
# THE run command (README): sets everything up on a fresh machine, then starts the Duet window.
# With no display (a server, SSH, CI), it runs the headless demo instead: the lite avatar answers a
# recorded user turn and a real two-sided session file is written (its path is printed; the JSON
# summary is the only thing on stdout). Flags that only mean something in the window are left out
# there (with a note); the rest (--persona, --avatar, --brain ...) go to the demo.
# Usage: installers/duet.sh [duet args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/installers/setup.sh"
VENV="${DUET_VENV:-$ROOT/.venv}"
if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ] || [ "$(uname)" = "Darwin" ]; then
  exec "$VENV/bin/duet" "$@"
fi
echo "[duet] no display found: running the headless demo (duet-engine demo)" >&2
demo_args=()
for arg in "$@"; do
  case "$arg" in
    --fullscreen|--kiosk|--hud|--gl|--no-gl|--record|--reset-settings|--verbose)
      echo "[duet] note: $arg is for the window: not used by the demo" >&2 ;;
    *) demo_args+=("$arg") ;;
  esac
done
exec "$VENV/bin/duet-engine" demo ${demo_args[@]+"${demo_args[@]}"}

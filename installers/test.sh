#!/usr/bin/env bash
# THE test command (README, .ci/run): sets everything up on a fresh machine, then runs
# ruff, mypy, import-linter and the whole pytest suite (Qt tests under Xvfb via pytest-xvfb, real audio
# through a PipeWire null sink whose monitor is the default microphone). On macOS: the same checks and
# pytest's portable part (no PipeWire or Xvfb there).
# Usage: installers/test.sh [pytest args...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash installers/setup.sh --dev
VENV="${DUET_VENV:-$ROOT/.venv}"

pytest_args=()
if [ "$(uname)" = "Darwin" ]; then
  # no PipeWire (audio-setup.sh is Debian/Ubuntu's) and no Xvfb on macOS: the portable part runs,
  # tests marked gui, audio or linux are skipped with their reason (tests/conftest.py)
  echo "[test] macOS: no headless audio or Xvfb here; the gui, audio and linux tests are skipped" >&2
  pytest_args=(--no-xvfb)
else
  # headless audio: reuse a running PipeWire from an earlier call, else start one for this run
  export AUDIO_DIR="${AUDIO_DIR:-/tmp/ci-audio}"
  export XDG_RUNTIME_DIR="$AUDIO_DIR/run" DBUS_SESSION_BUS_ADDRESS="unix:path=$AUDIO_DIR/run/bus"
  if ! pactl info 2>/dev/null | grep -q 'Default Source: spk.monitor'; then
    # shellcheck source=/dev/null
    source installers/audio-setup.sh
    trap 'ci_audio_stop' EXIT
    set -euo pipefail  # audio-setup.sh ends with set +e
  fi
fi

echo "[test] ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "[test] mypy"
"$VENV/bin/mypy"
echo "[test] import-linter"
"$VENV/bin/lint-imports"
echo "[test] pytest"
"$VENV/bin/python" -m pytest ${pytest_args[@]+"${pytest_args[@]}"} "$@"

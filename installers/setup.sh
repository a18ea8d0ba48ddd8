#!/usr/bin/env bash
# Sets up everything Duet needs on a fresh Debian/Ubuntu (or macOS 14+ on Apple Silicon) machine:
#   system packages (as root, or through sudo; otherwise it prints the apt command to run): Qt's
#   xcb and Mesa GL libraries, PortAudio, espeak-ng data, the venv module; with --dev also Xvfb and
#   the PipeWire stack for the headless audio tests. apt never removes a package here
#   (--no-remove): where one would go (PulseAudio, replaced by pipewire-alsa), it stops and says so.
#   Then a virtualenv (.venv, or DUET_VENV) on Python 3.11-3.13 with torch==2.13.0 installed FIRST (the
#   CPU wheel on Linux without an NVIDIA GPU) and the rest pinned by installers/constraints.txt.
# Usage: installers/setup.sh [--dev]     (idempotent; re-running is cheap and repairs what is missing)
# Environment: PYTHON (interpreter for the venv), DUET_VENV (its folder), DUET_TORCH_INDEX (pip index
#   for torch; default: PyTorch's CPU index on Linux without nvidia-smi, '' for PyPI).
# Progress goes to stderr, so `installers/duet.sh | jq` reads only the demo's JSON.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DUET_VENV:-$ROOT/.venv}"
EXTRA="${1:-}"
say() { echo "[setup] $*" >&2; }
die() { echo "[setup] error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ macOS: 14+ on Apple Silicon
# torch 2.13.0, av 18.1.0 and onnxruntime have macOS wheels only for macosx_14_0_arm64: anything
# older or on Intel would end in pip source builds that cannot succeed
if [ "$(uname)" = "Darwin" ]; then
  macos="$(sw_vers -productVersion 2>/dev/null || echo 0)"
  [ "${macos%%.*}" -ge 14 ] 2>/dev/null \
    || die "Duet needs macOS 14 (Sonoma) or newer on Apple Silicon; this is macOS $macos"
  [ "$(uname -m)" = "arm64" ] || die "Duet needs a Mac with Apple Silicon (arm64); this one is $(uname -m) \
(the pinned torch and onnxruntime have no macOS Intel wheels)"
fi

# ------------------------------------------------------------------ system packages
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep "install ok installed" >/dev/null; }
apt_names() {  # "a|b" specs -> for each, the first name this machine's apt knows (else the last)
  local spec name pick out=()
  for spec in "$@"; do
    IFS='|' read -ra alts <<<"$spec"
    pick="${alts[-1]}"
    for name in "${alts[@]}"; do
      if apt-cache policy "$name" 2>/dev/null | grep 'Candidate: [^(]' >/dev/null; then pick="$name"; break; fi
    done
    out+=("$pick")
  done
  echo "${out[*]}"
}
if command -v apt-get >/dev/null 2>&1; then
  # "a|b": either name will do (Debian 13 / Ubuntu 24.04 renamed some libraries, e.g. ...t64)
  wanted=(libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-xinerama0
          libxcb-xkb1 libxcb-cursor0 libxkbcommon-x11-0 libxkbcommon0 libegl1 libgl1 libgl1-mesa-dri
          "libglib2.0-0t64|libglib2.0-0" libfontconfig1 libdbus-1-3 libportaudio2 espeak-ng-data python3-venv)
  if [ "$EXTRA" = "--dev" ]; then
    wanted+=(xvfb xauth pipewire pipewire-alsa pipewire-pulse wireplumber pulseaudio-utils dbus sox alsa-utils)
  fi
  missing=()
  for spec in "${wanted[@]}"; do
    IFS='|' read -ra names <<<"$spec"
    have=""
    for name in "${names[@]}"; do installed "$name" && have=1 && break; done
    [ -n "$have" ] || missing+=("$spec")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
      SUDO=(none)
      if command -v sudo >/dev/null 2>&1; then
        if sudo -n true 2>/dev/null; then
          SUDO=(sudo)
        elif [ -t 0 ]; then
          say "sudo is needed to install ${missing[*]//|/ or }"
          if sudo -v; then SUDO=(sudo); fi  # asks for the password; not in sudoers: stays "none"
        fi
      fi
    fi
    if [ "${SUDO[*]}" = "none" ]; then
      say "warning: these system packages are missing and this user cannot install them (not root, no sudo):"
      say "  sudo apt-get install --no-install-recommends $(apt_names "${missing[@]}")"
      say "  ask an administrator to run that; going on with the virtualenv"
    else
      say "apt: installing ${missing[*]}"
      "${SUDO[@]}" apt-get update -qq
      read -ra pkgs <<<"$(apt_names "${missing[@]}")"
      if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
          apt-get install -y -qq --no-install-recommends --no-remove "${pkgs[@]}" >/dev/null; then
        die "apt could not install ${pkgs[*]} (above). If it says packages would be removed (pipewire-alsa \
replaces the PulseAudio daemon), Duet did not remove them: install those packages yourself, or run the \
tests in a container"
      fi
    fi
  fi
fi

# ------------------------------------------------------------------ Python 3.11-3.13
# 3.13 and 3.11 first: every pinned package has wheels for them. 3.12 works too (pocketsphinx 5.0.4,
# the last with cp312 wheels, by a marker in constraints.txt); 3.14 does not (no pocketsphinx wheel:
# a source build needing a C compiler and the Python headers).
py_ok() { [ "$("$1" -c 'import sys; print((3, 11) <= sys.version_info[:2] <= (3, 13))' 2>/dev/null)" = "True" ]; }
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "not runnable"; }
if [ -n "${PYTHON:-}" ]; then
  py_ok "$PYTHON" || die "PYTHON=$PYTHON is Python $(py_version "$PYTHON"): Duet needs Python 3.11, 3.12 or 3.13"
  PY="$PYTHON"
else
  # one whose venv module works (Debian ships it apart: python3.X-venv), else the first at all
  PY=""; fallback=""
  for cand in python3.13 python3.11 python3 python3.12; do
    if command -v "$cand" >/dev/null 2>&1 && py_ok "$cand"; then
      if "$cand" -c 'import ensurepip, venv' >/dev/null 2>&1; then PY="$cand"; break; fi
      [ -n "$fallback" ] || fallback="$cand"
    fi
  done
  PY="${PY:-$fallback}"
  if [ -z "$PY" ]; then
    have="no python3"; command -v python3 >/dev/null 2>&1 && have="python3 is $(py_version python3)"
    die "Duet needs Python 3.11, 3.12 or 3.13 ($have here): install one (Debian/Ubuntu: apt install \
python3.11 python3.11-venv, or python3.13 python3.13-venv; macOS: brew install python@3.13) or set \
PYTHON=/path/to/python3.13"
  fi
fi

# ------------------------------------------------------------------ the virtualenv
rebuild=""
if [ -f "$VENV/pyvenv.cfg" ] && [ -x "$VENV/bin/python" ]; then
  # a venv left by a failed first run (no pip: the venv module was missing) or made with a Python
  # outside 3.11-3.13
  py_ok "$VENV/bin/python" && "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || rebuild=1
fi
if [ -n "$rebuild" ]; then
  # only Duet's own (the default folder, or one this script set up), and only one this user may
  # replace: never someone else's environment
  if [ "$VENV" != "$ROOT/.venv" ] && [ ! -f "$VENV/.duet-setup-stamp" ]; then
    die "the virtualenv $VENV has no pip or is not on Python 3.11-3.13: make it again, or point DUET_VENV elsewhere"
  fi
  [ -w "$VENV" ] && [ -w "$(dirname "$VENV")" ] || die "the virtualenv $VENV is broken and this user cannot replace it"
  say "rebuilding the virtualenv $VENV (it has no pip or is not on Python 3.11-3.13)"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  if [ -n "$(ls -A "$VENV" 2>/dev/null)" ]; then  # something is there, but not a venv this user can run
    die "$VENV exists but holds no Python this user can run: move it away, or set DUET_VENV"
  fi
  say "creating virtualenv $VENV ($("$PY" --version 2>&1))"
  if ! "$PY" -m venv "$VENV"; then
    rm -rf "$VENV"  # what this run just made (it was empty or absent)
    die "could not create a virtualenv with $PY: install its venv module (Debian/Ubuntu: apt install \
python3-venv, or python3.X-venv for the version above)"
  fi
fi

# ------------------------------------------------------------------ Python packages
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
stamp="$VENV/.duet-setup-stamp"
if command -v sha256sum >/dev/null 2>&1; then hash=(sha256sum); else hash=(shasum -a 256); fi
digest="$(cat "$ROOT/pyproject.toml" "$ROOT/installers/constraints.txt" | "${hash[@]}" | cut -c1-16)"
want="$digest$EXTRA"
have_stamp="$(cat "$stamp" 2>/dev/null || true)"
current=""
# a --dev install also serves a plain run; pip check catches a package removed since
if { [ "$have_stamp" = "$want" ] || [ "$have_stamp" = "$digest--dev" ]; } \
    && "$VENV/bin/python" -m pip check >/dev/null 2>&1; then
  current=1
fi
if [ -z "$current" ]; then
  if ! "$VENV/bin/python" -c "import torch" >/dev/null 2>&1; then
    index="${DUET_TORCH_INDEX-auto}"
    if [ "$index" = "auto" ]; then
      index=""
      if [ "$(uname)" = "Linux" ] && ! command -v nvidia-smi >/dev/null 2>&1; then
        index="https://download.pytorch.org/whl/cpu"  # PyPI's Linux wheel is the CUDA build (GBs)
      fi
    fi
    # one quick look first: pip would retry an index it cannot reach five times per package
    if [ -n "$index" ] && ! "$VENV/bin/python" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=10).read(1)" \
        "${index%/}/torch/" >/dev/null 2>&1; then
      say "$index cannot be reached: torch from the default index"
      index=""
    fi
    if [ -n "$index" ]; then
      say "pip: torch==2.13.0 (CPU) first, from $index"
      "${PIP[@]}" install --index-url "$index" torch==2.13.0
    else
      say "pip: torch==2.13.0 first"
      "${PIP[@]}" install torch==2.13.0
    fi
  fi
  spec="$ROOT"; [ "$EXTRA" = "--dev" ] && spec="$ROOT[dev]"
  say "pip: duet-avatar${EXTRA:+ (dev)}"
  "${PIP[@]}" install -c "$ROOT/installers/constraints.txt" -e "$spec"
  echo "$want" > "$stamp"
fi
say "ready: $VENV"

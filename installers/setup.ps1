# Windows setup: a virtualenv in .venv with torch==2.13.0 (CPU) first, then Duet pinned by
# installers/constraints.txt. PortAudio ships inside the sounddevice wheel on Windows.
# Usage: powershell -ExecutionPolicy Bypass -File installers\setup.ps1 [-Dev]
param([switch]$Dev)
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
$Py = Join-Path $Venv "Scripts\python.exe"
if (-not (Test-Path $Py)) { py -3.11 -m venv $Venv }
& $Py -c "import torch" 2>$null
if ($LASTEXITCODE -ne 0) {
  & $Py -m pip install torch==2.13.0   # the Windows wheels on PyPI are CPU builds
}
$Spec = if ($Dev) { "$Root[dev]" } else { "$Root" }
& $Py -m pip install -c (Join-Path $Root "installers\constraints.txt") -e $Spec
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
Write-Host "[setup] ready: $Venv"

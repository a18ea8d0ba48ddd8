# Windows: set up (idempotent) and start the Duet window.
# Usage: powershell -ExecutionPolicy Bypass -File installers\duet.ps1 [duet args]
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
& (Join-Path $PSScriptRoot "setup.ps1")
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
& (Join-Path $Venv "Scripts\duet.exe") @args

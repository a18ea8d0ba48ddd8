# Windows: set up (idempotent) and start the Duet window; exits with Duet's exit code.
# Usage: powershell -ExecutionPolicy Bypass -File installers\duet.ps1 [duet args]
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
& (Join-Path $PSScriptRoot "setup.ps1")
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
# Duet's log lines on stderr must not stop this script (Windows PowerShell 5.1 makes them errors
# when redirected): its exit code decides (3: already running, see README)
$ErrorActionPreference = "Continue"
& (Join-Path $Venv "Scripts\duet.exe") @args
exit $LASTEXITCODE

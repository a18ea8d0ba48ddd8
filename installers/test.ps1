# Windows: set up (idempotent) and run the checks and tests (audio tests need a real device).
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
& (Join-Path $PSScriptRoot "setup.ps1") -Dev
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
Push-Location $Root
& (Join-Path $Venv "Scripts\ruff.exe") check .
& (Join-Path $Venv "Scripts\lint-imports.exe")
& (Join-Path $Venv "Scripts\python.exe") -m pytest @args
Pop-Location
exit $LASTEXITCODE

# Windows: set up (idempotent) and run the checks and tests, as installers/test.sh does on Linux:
# ruff, mypy, import-linter, then pytest's portable part: tests marked gui, audio or linux need Xvfb,
# PipeWire or POSIX signals and are skipped here (tests/conftest.py). Stops at the first failure.
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
& (Join-Path $PSScriptRoot "setup.ps1") -Dev
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
$Bin = Join-Path $Venv "Scripts"
Set-Location $Root
# from here each tool's exit code decides: under "Stop", Windows PowerShell 5.1 would end the run at
# the first line a tool writes to a redirected stderr (setup.ps1, Invoke-Native)
$ErrorActionPreference = "Continue"

Write-Host "[test] ruff"
& (Join-Path $Bin "ruff.exe") check .
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
& (Join-Path $Bin "ruff.exe") format --check .
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "[test] mypy"
& (Join-Path $Bin "mypy.exe")
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "[test] import-linter"
& (Join-Path $Bin "lint-imports.exe")
if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
Write-Host "[test] pytest"
& (Join-Path $Bin "python.exe") -m pytest @args
exit $LASTEXITCODE

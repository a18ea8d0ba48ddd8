# Windows setup: a virtualenv in .venv (or DUET_VENV) on Python 3.11+ with torch==2.13.0 (CPU) first,
# then Duet pinned by installers/constraints.txt. PortAudio ships inside the sounddevice wheel on Windows.
# Usage: powershell -ExecutionPolicy Bypass -File installers\setup.ps1 [-Dev]
# Environment: PYTHON (interpreter for the venv; default: the newest "py -3", else python), DUET_VENV.
# Native programs (python, pip) run through Invoke-Native: Windows PowerShell 5.1 turns their stderr
# into error records when it is redirected, and "Stop" would make the first one (pip's notices and
# warnings) fatal; there their exit code ($LASTEXITCODE) decides.
param([switch]$Dev)
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
$Py = Join-Path $Venv "Scripts\python.exe"
$Check311 = "import sys; sys.exit(sys.version_info < (3, 11))"

function Invoke-Native([string[]]$Cmd) {
  # stdout to the console (not this function's output); $LASTEXITCODE is the caller's to check
  $ErrorActionPreference = "Continue"  # this function's scope only
  $exe = $Cmd[0]
  $rest = @($Cmd | Select-Object -Skip 1)
  & $exe @rest | Out-Host
}

function Test-Python([string[]]$Cmd) {
  $ErrorActionPreference = "Continue"
  $exe = $Cmd[0]
  $pre = @($Cmd | Select-Object -Skip 1)
  try { & $exe @pre -c $Check311 2>$null | Out-Null } catch { return $false }  # not installed at all
  return ($LASTEXITCODE -eq 0)
}

# a venv left half made, or made with an old Python, is made again
if ((Test-Path $Py) -and -not (Test-Python @($Py))) {
  Write-Host "[setup] rebuilding the virtualenv $Venv (older than Python 3.11 or broken)"
  Remove-Item -Recurse -Force $Venv
}
if (-not (Test-Path $Py)) {
  $Cands = if ($env:PYTHON) { ,@($env:PYTHON) } else { @(@("py", "-3"), @("python")) }
  $Base = $null
  foreach ($c in $Cands) { if (Test-Python $c) { $Base = [string[]]$c; break } }
  if ($null -eq $Base) {
    throw "Duet needs Python 3.11 or newer: install it from python.org (with the py launcher) or set PYTHON"
  }
  Write-Host "[setup] creating virtualenv $Venv"
  $exe = $Base[0]
  $pre = @($Base | Select-Object -Skip 1)
  Invoke-Native (@($Base) + @("-m", "venv", $Venv))
  if ($LASTEXITCODE -ne 0) { throw "could not create the virtualenv $Venv with $($Base -join ' ')" }
}
$Pip = @($Py, "-m", "pip", "--disable-pip-version-check", "-q")
Invoke-Native @($Py, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)")
if ($LASTEXITCODE -ne 0) {
  Write-Host "[setup] pip: torch==2.13.0 (CPU) first"
  Invoke-Native ($Pip + @("install", "torch==2.13.0"))   # the Windows wheels on PyPI are CPU builds
  if ($LASTEXITCODE -ne 0) { throw "pip could not install torch==2.13.0" }
}
$Spec = if ($Dev) { "$Root[dev]" } else { "$Root" }
Write-Host "[setup] pip: duet-avatar$(if ($Dev) { ' (dev)' })"
Invoke-Native ($Pip + @("install", "-c", (Join-Path $Root "installers\constraints.txt"), "-e", $Spec))
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
Write-Host "[setup] ready: $Venv"

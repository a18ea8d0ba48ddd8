# Windows setup: a virtualenv in .venv (or DUET_VENV) on 64-bit Python 3.11-3.13 with torch==2.13.0
# (CPU) first, then Duet pinned by installers/constraints.txt. PortAudio ships inside the sounddevice
# wheel on Windows.
# Usage: powershell -ExecutionPolicy Bypass -File installers\setup.ps1 [-Dev]
# Environment: PYTHON (interpreter for the venv; default: py -3.13, py -3.11, py -3.12, else python),
#   DUET_VENV.
# Native programs (python, pip) run through Invoke-Native: Windows PowerShell 5.1 turns their stderr
# into error records when it is redirected, and "Stop" would make the first one (pip's notices and
# warnings) fatal; there their exit code ($LASTEXITCODE) decides.
param([switch]$Dev)
$ErrorActionPreference = "Stop"
$Root = Split-Path -Parent $PSScriptRoot
$Venv = if ($env:DUET_VENV) { $env:DUET_VENV } else { Join-Path $Root ".venv" }
$Py = Join-Path $Venv "Scripts\python.exe"
$Stamp = Join-Path $Venv ".duet-setup-stamp"
# what torch 2.13.0 and the pinned packages have Windows wheels for: CPython 3.11-3.13 on 64-bit x86
# (win_amd64); "py -3" alone may pick 3.14, a 32-bit or an ARM64 Python
$Probe = "import platform, struct, sys; v = sys.version_info; " +
  "print('%d.%d %s %d' % (v[0], v[1], platform.machine(), struct.calcsize('P') * 8))"

function Invoke-Native([string[]]$Cmd) {
  # stdout to the console (not this function's output); $LASTEXITCODE is the caller's to check
  $ErrorActionPreference = "Continue"  # this function's scope only
  $exe = $Cmd[0]
  $rest = @($Cmd | Select-Object -Skip 1)
  & $exe @rest | Out-Host
}

function Test-Quiet([string[]]$Cmd) {
  # $true when the command runs and exits 0; nothing it prints is shown
  $ErrorActionPreference = "Continue"
  $exe = $Cmd[0]
  $rest = @($Cmd | Select-Object -Skip 1)
  try { & $exe @rest 2>$null | Out-Null } catch { return $false }
  return ($LASTEXITCODE -eq 0)
}

function Get-PythonProblem([string[]]$Cmd) {
  # "" when $Cmd runs a Python Duet can use; else why not ("not found" when it does not run)
  $ErrorActionPreference = "Continue"
  $exe = $Cmd[0]
  $pre = @($Cmd | Select-Object -Skip 1)
  try { $out = & $exe @pre -c $Probe 2>$null } catch { return "not found" }  # not installed at all
  if ($LASTEXITCODE -ne 0 -or -not $out) { return "not found" }
  $version, $machine, $bits = "$out".Trim().Split(" ")
  if ($version -notin @("3.11", "3.12", "3.13")) {
    return "Python $version (Duet needs 3.11, 3.12 or 3.13)"
  }
  if ($machine -notin @("AMD64", "x86_64") -or $bits -ne "64") {
    return "Python $version for $machine, $bits-bit (torch has Windows wheels only for 64-bit x86)"
  }
  return ""
}

# a venv left half made, or made with a Python Duet cannot use, is made again
if (Test-Path $Py) {
  $problem = Get-PythonProblem @($Py)
  if ($problem -ne "") {
    # only Duet's own (the default folder, or one this script set up): never someone else's
    if ($Venv -ne (Join-Path $Root ".venv") -and -not (Test-Path $Stamp)) {
      throw "the virtualenv $Venv cannot be used ($problem): make it again, or point DUET_VENV elsewhere"
    }
    Write-Host "[setup] rebuilding the virtualenv $Venv ($problem)"
    Remove-Item -Recurse -Force $Venv
  }
}
if (-not (Test-Path $Py)) {
  $Cands = New-Object "System.Collections.Generic.List[string[]]"
  if ($env:PYTHON) {
    $Cands.Add([string[]]@($env:PYTHON))
  } else {
    foreach ($v in @("3.13", "3.11", "3.12")) { $Cands.Add([string[]]@("py", "-$v")) }
    $Cands.Add([string[]]@("python"))
  }
  $Base = $null
  $Why = @()
  foreach ($c in $Cands) {
    $problem = Get-PythonProblem $c
    if ($problem -eq "") { $Base = $c; break }
    $Why += "$($c -join ' '): $problem"
  }
  if ($null -eq $Base) {
    throw ("Duet needs a 64-bit (x86-64) Python 3.11, 3.12 or 3.13 (3.13 preferred); tried " +
      ($Why -join "; ") + ". Install Python 3.13 from python.org (the 'Windows installer (64-bit)', " +
      "with the py launcher), or set PYTHON to such a python.exe")
  }
  Write-Host "[setup] creating virtualenv $Venv ($($Base -join ' '))"
  Invoke-Native (@($Base) + @("-m", "venv", $Venv))
  if ($LASTEXITCODE -ne 0) { throw "could not create the virtualenv $Venv with $($Base -join ' ')" }
}
# ------------------------------------------------------------------ Python packages
# as setup.sh: nothing to do (and no network) when the stamp names this pyproject.toml +
# constraints.txt (a -Dev install also serves a plain run) and pip check finds nothing missing
$Pip = @($Py, "-m", "pip", "--disable-pip-version-check", "-q")
$Files = @((Join-Path $Root "pyproject.toml"), (Join-Path $Root "installers\constraints.txt"))
$Both = New-Object System.IO.MemoryStream
foreach ($f in $Files) { $b = [System.IO.File]::ReadAllBytes($f); $Both.Write($b, 0, $b.Length) }
$Hash = [System.Security.Cryptography.SHA256]::Create().ComputeHash($Both.ToArray())
$Digest = (($Hash | ForEach-Object { $_.ToString("x2") }) -join "").Substring(0, 16)
$Want = if ($Dev) { "${Digest}--dev" } else { $Digest }
$Have = if (Test-Path $Stamp) { "$(Get-Content -Raw $Stamp)".Trim() } else { "" }
$Current = ($Have -eq $Want -or $Have -eq "${Digest}--dev") -and (Test-Quiet ($Pip + @("check")))
if (-not $Current) {
  $HasTorch = "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is None)"
  if (-not (Test-Quiet @($Py, "-c", $HasTorch))) {
    Write-Host "[setup] pip: torch==2.13.0 (CPU) first"
    Invoke-Native ($Pip + @("install", "torch==2.13.0"))   # the Windows wheels on PyPI are CPU builds
    if ($LASTEXITCODE -ne 0) { throw "pip could not install torch==2.13.0" }
  }
  $Spec = if ($Dev) { "$Root[dev]" } else { "$Root" }
  Write-Host "[setup] pip: duet-avatar$(if ($Dev) { ' (dev)' })"
  Invoke-Native ($Pip + @("install", "-c", $Files[1], "-e", $Spec))
  if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
  Set-Content -Path $Stamp -Value $Want -Encoding ascii
}
Write-Host "[setup] ready: $Venv"

"""The embedded default model "lite": an offline, CPU cascade of small real parts."""

"""Duet desktop app (PySide6). Never imports torch."""

"""Shared-memory rings (media) and the message channel (control/events)."""

"""Duet engine: protocol, IPC, engine process, models. Never imports Qt."""

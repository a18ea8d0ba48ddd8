"""Duet engine: protocol, IPC, engine process, models. Never imports Qt."""

import logging

# A library's loggers stay quiet unless the program configures logging (the app and the engine
# process do; the CLI reports errors itself): without a handler, Python's last-resort handler
# would print their warnings to stderr beside the CLI's own one-line error.
for _name in ("engine", "duet"):  # module loggers, and duet.client / duet.engine
    logging.getLogger(_name).addHandler(logging.NullHandler())

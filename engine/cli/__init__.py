"""`duet-engine` command line: engine.cli.main:main is the console entry point.

Nothing is imported here, so `python -m engine.cli.main` runs that module once, as __main__.
"""

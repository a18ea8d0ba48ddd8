"""Benchmark commands (`duet-engine bench KIND`): each `engine.bench.<kind>:main(argv) -> int` prints JSON."""

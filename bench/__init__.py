"""confrec benchmarks: ``python -m bench [--quick]`` (see docs/benchmarks.md).

Not part of the test suite; nothing in confrec imports this package.
"""

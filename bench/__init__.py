"""Benchmark of ``conda bundle`` / ``conda unbundle`` against GNU tar + zstd and conda-pack.

Entry point: ``make bench`` (``python bench/run.py``). See docs/performance.md.
"""

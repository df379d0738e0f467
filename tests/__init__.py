"""conda-envbundle test suite."""

"""Helpers shared by the bench scripts (a package, so `make bench`'s `bench/*.py` does not run it)."""

"""Append-only, hash-chained audit log. Boundary: imports backend.core only."""

"""Shared kernel: errors, text normalisation, time. Imports nothing from the domain apps."""

"""Helpers shared by the unit tests, the Molecule verifiers and the lab tests.

Molecule verifiers and tests/lab put the repository's `tests` folder on sys.path and import
`support.<module>`; nothing here talks to anything but what the caller hands it.
"""

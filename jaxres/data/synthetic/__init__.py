"""Helpers for the embedded demo sets (tasks/synthetic/): `draw` and `store`."""
